"""The in-process llama.cpp backend: owns one ``Llama``, its lock, KV reuse and sampling.

The decode loop is our own (``Llama.eval`` + our sampler chain) rather than
``create_completion``, so that we control KV-cache reuse, abort during prompt
processing, stop strings over incremental text, and the sampler chain's order.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp

from app.engine.base import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    TextDelta,
)
from app.engine.gguf import GgufHeader, read_gguf_header
from app.engine.sampler_chain import build_sampler_chain
from app.engine.stopping import StopMatcher
from app.errors import ContextLengthExceeded, ModelLoadError

KV_CACHE_TYPES: dict[str, int] = {
    "f32": llama_cpp.GGML_TYPE_F32,
    "f16": llama_cpp.GGML_TYPE_F16,
    "bf16": 30,
    "q8_0": llama_cpp.GGML_TYPE_Q8_0,
    "q5_1": llama_cpp.GGML_TYPE_Q5_1,
    "q5_0": llama_cpp.GGML_TYPE_Q5_0,
    "q4_1": llama_cpp.GGML_TYPE_Q4_1,
    "q4_0": llama_cpp.GGML_TYPE_Q4_0,
}


@dataclass(frozen=True)
class LoadOptions:
    """How to load a GGUF model into a llama.cpp context."""

    n_ctx: int = 8192
    n_gpu_layers: int | None = None
    threads: int | None = None
    n_batch: int = 512
    flash_attn: bool = False
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU."""
    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaCppBackend:
    """A GGUF model running in this process through llama-cpp-python."""

    def __init__(self, llama: llama_cpp.Llama, header: GgufHeader, n_gpu_layers: int) -> None:
        self._llama = llama
        self._header = header
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._pieces: dict[int, bytes] = {}
        self._piece_buffer = ctypes.create_string_buffer(256)
        # Kept as an attribute: ctypes must not free the callback while C holds it.
        self._abort_callback = llama_cpp.ggml_abort_callback(self._should_abort)
        self._info = self._read_info(n_gpu_layers)

    @classmethod
    def load(cls, path: Path, options: LoadOptions) -> LlamaCppBackend:
        """Load ``path``; raise ``ModelLoadError`` naming the file if it cannot be used."""
        header = read_gguf_header(path)
        n_ctx = min(options.n_ctx, header.context_length or options.n_ctx)
        n_gpu_layers = options.n_gpu_layers
        if n_gpu_layers is None:
            n_gpu_layers = -1 if gpu_offload_supported() else 0
        threads = options.threads or os.cpu_count() or 1
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=options.n_batch,
                n_ubatch=options.n_batch,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=n_gpu_layers,
                flash_attn=options.flash_attn,
                type_k=KV_CACHE_TYPES[options.cache_type_k],
                type_v=KV_CACHE_TYPES[options.cache_type_v],
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                str(path), f"llama.cpp could not load it; truncated or corrupt? ({exc})"
            ) from exc
        return cls(llama, header, n_gpu_layers)

    # -- facts and tokens -------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        """The loaded model's facts."""
        return self._info

    @property
    def llama(self) -> llama_cpp.Llama:
        """The underlying ``Llama`` (for the sampler chain and benchmarks)."""
        return self._llama

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Text to token ids."""
        tokens: list[int] = self._llama.tokenize(
            text.encode("utf-8"), add_bos=add_bos, special=special
        )
        return tokens

    def detokenize(self, tokens: Sequence[int], *, special: bool = True) -> str:
        """Token ids to text."""
        return b"".join(self._piece(t, special) for t in tokens).decode("utf-8", "replace")

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` becomes (special tokens parsed, no BOS)."""
        return len(self.tokenize(text))

    # -- generation --------------------------------------------------------------------

    def abort(self) -> None:
        """Stop the running generation soon; prompt processing is interrupted too."""
        self._abort.set()

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """Generate under the lock; yields text deltas, then one ``Finished``."""
        n_prompt = len(request.prompt_tokens)
        if n_prompt == 0:
            raise ValueError("empty prompt")
        if n_prompt >= self._info.n_ctx:
            raise ContextLengthExceeded(n_prompt, self._info.n_ctx)
        with self._lock:
            self._abort.clear()
            yield from self._generate(request)

    def close(self) -> None:
        """Free the model and its context."""
        with self._lock:
            self._llama.close()

    def _generate(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        seed = request.sampler.seed if request.sampler.seed >= 0 else random.getrandbits(31)
        started = time.perf_counter()
        reused = self._reuse_prefix(request.prompt_tokens)
        to_eval = list(request.prompt_tokens[reused:])
        if not self._eval_prompt(to_eval):
            elapsed = time.perf_counter() - started
            evaluated = self._llama.n_tokens - reused
            stats = GenerationStats(
                len(request.prompt_tokens), 0, reused, evaluated, elapsed, 0.0, seed
            )
            yield Finished("aborted", "", stats)
            return
        prompt_seconds = time.perf_counter() - started
        decode = _Decode(self, request, seed)
        yield from decode.run()
        stats = GenerationStats(
            prompt_tokens=len(request.prompt_tokens),
            completion_tokens=decode.n_generated,
            tokens_reused=reused,
            tokens_evaluated=len(to_eval),
            prompt_seconds=prompt_seconds,
            decode_seconds=time.perf_counter() - started - prompt_seconds,
            seed=seed,
        )
        yield Finished(decode.finish_reason, decode.text, stats)

    def _reuse_prefix(self, tokens: Sequence[int]) -> int:
        """Keep the longest common prefix of the KV cache and ``tokens``; return its length."""
        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens]
        common = 0
        for have, want in zip(cached, tokens, strict=False):
            if have != want:
                break
            common += 1
        if common == len(tokens):
            common -= 1  # re-evaluate the last token to get fresh logits
        if common > 0 and llama._ctx.kv_cache_seq_rm(-1, common, -1):
            llama.n_tokens = common
            return common
        llama.reset()  # type: ignore[no-untyped-call]
        llama._ctx.kv_cache_clear()  # type: ignore[no-untyped-call]
        return 0

    def _eval_prompt(self, tokens: list[int]) -> bool:
        """Evaluate ``tokens`` with the abort callback armed; False if aborted.

        The last token is always evaluated on its own, in a batch of one, as it is when
        a cached prompt is replayed for a swipe: the logits are then bit-identical either
        way, so a fixed seed reproduces a reply whether the prompt was cached or not.
        """
        ctx = self._llama.ctx
        llama_cpp.llama_set_abort_callback(ctx, self._abort_callback, None)
        try:
            if len(tokens) > 1:
                self._llama.eval(tokens[:-1])
            self._llama.eval(tokens[-1:])
        except RuntimeError:
            if not self._abort.is_set():
                raise
            # Drop whatever part of the aborted batch reached the cache.
            self._llama._ctx.kv_cache_seq_rm(-1, self._llama.n_tokens, -1)
            return False
        finally:
            # Disarmed while decoding: the callback runs per graph node and costs speed.
            llama_cpp.llama_set_abort_callback(ctx, llama_cpp.ggml_abort_callback(), None)
        return True

    def _should_abort(self, _data: Any) -> bool:
        return self._abort.is_set()

    def _piece(self, token: int, special: bool) -> bytes:
        key = token if special else -token - 1
        piece = self._pieces.get(key)
        if piece is None:
            buf = self._piece_buffer
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
            piece = buf.raw[: max(n, 0)]
            self._pieces[key] = piece
        return piece

    def is_end_of_generation(self, token: int) -> bool:
        """Whether ``token`` ends a turn (EOS, EOT and the like)."""
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def _read_info(self, n_gpu_layers: int) -> ModelInfo:
        llama, header = self._llama, self._header
        model = llama._model
        bos, eos = model.token_bos(), model.token_eos()
        eot = model.token_eot()
        return ModelInfo(
            name=header.name,
            path=str(header.path),
            architecture=header.architecture,
            n_ctx=llama.n_ctx(),
            n_ctx_train=model.n_ctx_train(),
            n_vocab=llama.n_vocab(),
            chat_template=header.chat_template,
            bos_token=model.token_get_text(bos) if bos >= 0 else "",
            eos_token=model.token_get_text(eos) if eos >= 0 else "",
            bos_token_id=bos,
            eos_token_id=eos,
            eot_token_id=eot if eot >= 0 else None,
            add_bos=bool(model.add_bos_token()),
            special_tokens=self._control_tokens(),
            size_bytes=header.size_bytes,
            quantization=header.quantization,
            n_gpu_layers=n_gpu_layers,
        )

    def _control_tokens(self) -> tuple[str, ...]:
        model = self._llama._model
        control = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
        return tuple(
            model.token_get_text(t)
            for t in range(self._llama.n_vocab())
            if model.token_get_attr(t) & control
        )


class _Decode:
    """One reply's sampling loop: sample, detokenize incrementally, stop, evaluate."""

    def __init__(self, backend: LlamaCppBackend, request: GenerationRequest, seed: int) -> None:
        self._backend = backend
        self._request = request
        self._sampler = build_sampler_chain(
            backend.llama, request.sampler, seed=seed, history=request.prompt_tokens
        )
        self._stop = StopMatcher(request.stop)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.n_generated = 0
        self.text = ""
        self.finish_reason: FinishReason = "length"

    def run(self) -> Iterator[TextDelta]:
        backend, llama = self._backend, self._backend.llama
        budget = min(self._request.max_new_tokens, llama.n_ctx() - llama.n_tokens)
        while self.n_generated < budget:
            if backend._abort.is_set():
                self.finish_reason = "aborted"
                break
            token = self._sampler.sample(llama._ctx, -1)  # also accepts the token
            if backend.is_end_of_generation(token) and not self._request.sampler.ban_eos:
                self.finish_reason = "stop"
                break
            self.n_generated += 1
            delta = self._stop.feed(self._utf8.decode(backend._piece(token, False)))
            if delta:
                self.text += delta
                yield TextDelta(delta)
            if self._stop.stopped:
                self.finish_reason = "stop"
                break
            llama.eval([token])
        tail = self._stop.feed(self._utf8.decode(b"", final=True)) + self._stop.flush()
        if tail:
            self.text += tail
            yield TextDelta(tail)
