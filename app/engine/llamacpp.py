"""The in-process llama.cpp backend: owns one ``Llama``, its lock, KV reuse and sampling.

The decode loop is our own (``Llama.eval`` + our sampler chain) rather than
``create_completion``, so that we control KV-cache reuse, abort during prompt
processing, stop strings over incremental text, and the sampler chain's order.
KV reuse (prefix, context shift, moved chunks, saved chat states) lives in
:mod:`app.engine.kvslot`, planned by :mod:`app.engine.kvcache`.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp._internals import LlamaSampler

from app.engine.banned import BanGuard, Rollback
from app.engine.base import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    TextDelta,
    TokenProbs,
)
from app.engine.family import model_family
from app.engine.gguf import GgufHeader, read_gguf_header
from app.engine.giving_way import GivingWay
from app.engine.kvcache import MIN_CHUNK
from app.engine.kvslot import LOGITS_MIN_TOKENS, KvSlot, LoadResult, open_context
from app.engine.sampler_chain import build_sampler_chain
from app.engine.sampling import SamplerSettings, active_stages
from app.engine.stopping import StopMatcher
from app.engine.token_probs import token_probs
from app.errors import ContextLengthExceeded, InputError, ModelLoadError, ModelNotLoaded

#: Banned-string rollbacks allowed in one reply before the guard gives up.
MAX_ROLLBACKS = 256

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


#: Texts at least this long are remembered by ``tokenize`` (the last few of them).
MEMO_MIN_CHARS = 1024
MEMO_ENTRIES = 8
#: Token counts remembered by ``count_tokens``: a prompt is fitted message by message,
#: every turn, so each count would otherwise tokenize the same lines again.
COUNT_MEMO_ENTRIES = 4096

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _Memo(Generic[_K, _V]):
    """The last ``size`` values put, least recently used out first (thread-safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[_K, _V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _K) -> _V | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: _K, value: _V) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)


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
    #: Reuse cached chunks that moved (context shift); 0 keeps only the common prefix.
    shift_min_chunk: int = MIN_CHUNK
    #: Also reuse history that follows new or changed text (a moved author's note, an
    #: edited message): its keys and values were computed next to the old text.
    reuse_after_insertions: bool = True
    #: Prompts at least this long keep their last token's logits: a swipe then samples
    #: at once, whatever the history length (shorter ones evaluate that token again).
    swipe_logits_min_tokens: int = LOGITS_MIN_TOKENS
    #: Saved KV states of recently used chats, and the memory they may take.
    saved_states: int = 3
    saved_states_mb: int = 512


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU."""
    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaCppBackend:
    """A GGUF model running in this process through llama-cpp-python."""

    def __init__(
        self,
        llama: llama_cpp.Llama,
        header: GgufHeader,
        n_gpu_layers: int,
        options: LoadOptions | None = None,
    ) -> None:
        options = options or LoadOptions()
        self._llama = llama
        self._header = header
        self._lock = threading.Lock()
        self._abort = threading.Event()
        #: The running request's own stop signal (see ``GenerationRequest.cancel``).
        self._cancel: threading.Event | None = None
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._pieces: dict[int, bytes] = {}
        self._token_memo: _Memo[tuple[str, bool, bool], tuple[int, ...]] = _Memo(MEMO_ENTRIES)
        self._count_memo: _Memo[str, int] = _Memo(COUNT_MEMO_ENTRIES)
        self._piece_buffer = ctypes.create_string_buffer(256)
        # Kept as attributes: ctypes must not free a callback while C holds it.
        self._abort_callback = llama_cpp.ggml_abort_callback(self._should_abort)
        self._no_abort_callback = llama_cpp.ggml_abort_callback()
        self._info = self._read_info(n_gpu_layers)
        self._eog_ids: tuple[int, ...] | None = None
        #: How the last request's prompt was loaded into the KV cache.
        self.last_load: LoadResult | None = None
        self._background = GivingWay()
        self._closed = False
        self._slot = KvSlot(
            llama,
            self._arm_abort,
            self._is_aborted,
            min_chunk=options.shift_min_chunk,
            reuse_after_insertions=options.reuse_after_insertions,
            logits_min_tokens=options.swipe_logits_min_tokens,
            max_states=options.saved_states,
            state_capacity_bytes=options.saved_states_mb << 20,
        )

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
        if options.shift_min_chunk > 0:
            open_context(llama)
        return cls(llama, header, n_gpu_layers, options)

    # -- facts and tokens -------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        """The loaded model's facts."""
        return replace(self._info, can_shift=self._slot.can_shift)

    @property
    def llama(self) -> llama_cpp.Llama:
        """The underlying ``Llama`` (for the sampler chain and benchmarks)."""
        return self._llama

    @property
    def kv(self) -> KvSlot:
        """The KV cache manager (what it holds, whether it can shift, saved states)."""
        return self._slot

    @property
    def can_shift(self) -> bool:
        """Whether dropped history costs a KV shift rather than a full re-evaluation.

        Where it is False, the chat layer trims history in chunks (``app.chat.trimming``).
        """
        return self._slot.can_shift

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Text to token ids (long texts are remembered: a swipe resends its prompt)."""
        key = (text, add_bos, special)
        known = self._token_memo.get(key)
        if known is not None:
            return list(known)
        tokens: list[int] = self._llama.tokenize(
            text.encode("utf-8"), add_bos=add_bos, special=special
        )
        if len(text) >= MEMO_MIN_CHARS:
            self._token_memo.put(key, tuple(tokens))
        return tokens

    def detokenize(self, tokens: Sequence[int], *, special: bool = True) -> str:
        """Token ids to text."""
        return b"".join(self._piece(t, special) for t in tokens).decode("utf-8", "replace")

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` becomes (special tokens parsed, no BOS; remembered)."""
        count = self._count_memo.get(text)
        if count is None:
            count = len(self.tokenize(text))
            self._count_memo.put(text, count)
        return count

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
        self._background.enter(request)
        try:
            with self._lock:
                if self._closed:
                    raise ModelNotLoaded()
                self._abort.clear()
                self._cancel = request.cancel
                try:
                    yield from self._generate(request)
                finally:
                    self._cancel = None
        finally:
            self._background.leave(request)

    def close(self) -> None:
        """Free the model and its context.  Background work (a member's slot filled
        ahead of time) is cancelled first, so closing never waits for it; a request
        still waiting for the model then finds it closed (``ModelNotLoaded``)."""
        self._background.cancel_all()
        with self._lock:
            self._closed = True
            self._llama.close()

    def _generate(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        seed = request.sampler.seed if request.sampler.seed >= 0 else random.getrandbits(31)
        started = time.perf_counter()
        loaded = LoadResult(0, 0, complete=False)  # cancelled before it started
        if not request.cancel.is_set():
            if request.keep_cache:  # a one-off (a summary) leaves the kept states alone
                self._slot.keep_states(request.cache_slots)
            loaded = self._slot.load(
                request.prompt_tokens, request.cache_key, keep=request.keep_cache
            )
        self.last_load = loaded
        if not loaded.complete:
            elapsed = time.perf_counter() - started
            stats = GenerationStats(
                len(request.prompt_tokens), 0, loaded.reused, loaded.evaluated, elapsed, 0.0, seed
            )
            yield Finished("aborted", "", stats)
            return
        prompt_seconds = time.perf_counter() - started
        decode = _Decode(self, request, seed)
        decode.first_logits = loaded.logits
        yield from decode.run()
        stats = GenerationStats(
            prompt_tokens=len(request.prompt_tokens),
            completion_tokens=decode.n_generated,
            tokens_reused=loaded.reused,
            tokens_evaluated=loaded.evaluated,
            prompt_seconds=prompt_seconds,
            decode_seconds=time.perf_counter() - started - prompt_seconds,
            seed=seed,
        )
        yield Finished(
            decode.finish_reason,
            decode.text,
            stats,
            stop_word=decode.stop_word,
            probs=decode.all_probs,
        )

    def _arm_abort(self, armed: bool) -> None:
        """Install the abort callback (prompt processing) or remove it (decoding)."""
        callback = self._abort_callback if armed else self._no_abort_callback
        llama_cpp.llama_set_abort_callback(self._llama.ctx, callback, None)

    def _should_abort(self, _data: Any) -> bool:
        return self._is_aborted()

    def _is_aborted(self) -> bool:
        """Whether the running generation was told to stop (``abort`` or its ``cancel``)."""
        cancel = self._cancel
        return self._abort.is_set() or (cancel is not None and cancel.is_set())

    def _piece(self, token: int, special: bool) -> bytes:
        key = token if special else -token - 1
        piece = self._pieces.get(key)
        if piece is None:
            buf = self._piece_buffer
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
            piece = buf.raw[: max(n, 0)]
            self._pieces[key] = piece
        return piece

    def chain_settings(self, settings: SamplerSettings) -> SamplerSettings:
        """``settings`` with ``ban_eos`` turned into banned ids (found once, not per reply)."""
        if not settings.ban_eos:
            return settings
        if self._eog_ids is None:
            n_vocab = self._info.n_vocab
            self._eog_ids = tuple(t for t in range(n_vocab) if self.is_end_of_generation(t))
        banned = (*settings.banned_tokens, *self._eog_ids)
        return settings.model_copy(update={"ban_eos": False, "banned_tokens": banned})

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
            family=model_family(header.metadata, header.name),
            keeps_slots=True,
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
        self._guard = BanGuard.of(request.sampler.banned_strings)
        self._rollbacks = 0
        self._sampler = build_sampler_chain(
            backend.llama,
            backend.chain_settings(request.sampler),
            seed=seed,
            history=request.prompt_tokens if _uses_history(request.sampler) else (),
            banned_now=self._guard.banned_now if self._guard.active else None,
        )
        if request.grammar is not None:
            self._sampler = _grammar_first(self._sampler, backend.llama, request.grammar)
        self._stop = StopMatcher(request.stop)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.n_generated = 0
        self.text = ""
        self.finish_reason: FinishReason = "length"
        #: Logits to sample the first token from (a repeated prompt), else the context's.
        self.first_logits: npt.NDArray[np.float32] | None = None
        #: With ``request.n_probs``: each generated token's probabilities, and how many
        #: of them went out with a delta already.
        self._probs: list[TokenProbs] = []
        self._probs_sent = 0

    def run(self) -> Iterator[TextDelta]:
        backend, llama = self._backend, self._backend.llama
        budget = min(self._request.max_new_tokens, llama.n_ctx() - llama.n_tokens)
        while self.n_generated < budget:
            if backend._is_aborted():
                self.finish_reason = "aborted"
                break
            logits = self.first_logits
            if logits is not None:
                token = _sample_logits(self._sampler, logits)
                self.first_logits = None
            else:
                token = self._sampler.sample(llama._ctx, -1)  # also accepts the token
            if self._request.n_probs > 0:
                self._note_probs(token, logits)
            if backend.is_end_of_generation(token) and not self._request.sampler.ban_eos:
                self.finish_reason = "stop"
                break
            piece = self._utf8.decode(backend._piece(token, False))
            if self._guard.active:
                released = self._guard.push(token, piece)
                if isinstance(released, Rollback):
                    self._roll_back(released.drop)
                    continue
                piece = released
            self.n_generated += 1
            delta = self._stop.feed(piece)
            if delta:
                self.text += delta
                yield TextDelta(delta, self._unsent_probs())
            if self._stop.stopped:
                self.finish_reason = "stop"
                break
            if self.n_generated >= budget:
                break  # nothing samples after the last token: evaluating it is waste
            llama.eval([token])
        # At the end nothing can be rolled back: release what the guard held.  The bytes
        # of a character the reply was cut inside of are dropped, never shown as U+FFFD.
        rest = self._guard.flush()
        self._utf8.reset()
        tail = self._stop.feed(rest) + self._stop.flush()
        if tail:
            self.text += tail
            yield TextDelta(tail, self._unsent_probs())

    @property
    def stop_word(self) -> str | None:
        """The stop string that ended the reply, if one did."""
        return self._stop.matched if self._stop.stopped else None

    @property
    def all_probs(self) -> tuple[TokenProbs, ...]:
        """Every generated token's probabilities (empty without ``n_probs``)."""
        return tuple(self._probs)

    def _note_probs(self, token: int, logits: npt.NDArray[np.float32] | None) -> None:
        """Record ``token``'s probabilities from the logits it was sampled from."""
        llama = self._backend.llama
        if logits is None:
            pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
            logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),))
        piece = self._backend.detokenize
        self._probs.append(token_probs(logits, token, self._request.n_probs, lambda t: piece([t])))

    def _unsent_probs(self) -> tuple[TokenProbs, ...]:
        """The probabilities recorded since the last delta (sent with the next one)."""
        unsent = tuple(self._probs[self._probs_sent :])
        self._probs_sent = len(self._probs)
        return unsent

    def _roll_back(self, drop: int) -> None:
        """Undo the last ``drop`` tokens (the newest is not yet evaluated) and refresh logits.

        After ``MAX_ROLLBACKS`` the guard gives up rather than loop without end.
        """
        llama = self._backend.llama
        evaluated = drop - 1
        self.n_generated -= evaluated
        llama.n_tokens -= evaluated
        last = int(llama.input_ids[llama.n_tokens - 1])
        llama.n_tokens -= 1
        llama.eval([last])  # removes the dropped cells and gives fresh logits
        self.first_logits = None
        del self._probs[max(len(self._probs) - drop, self._probs_sent) :]
        self._utf8.reset()
        self._rollbacks += 1
        if self._rollbacks >= MAX_ROLLBACKS:
            self._guard = BanGuard.of(())


def _grammar_first(chain: Any, llama: llama_cpp.Llama, gbnf: str) -> Any:
    """A chain that applies the GBNF grammar ``gbnf`` first, then ``chain``'s samplers.

    ``chain`` was already fed the prompt (for the penalties); the grammar must not see
    it, so its samplers are moved, state and all, behind a fresh grammar sampler.
    """
    grammar = llama_cpp.llama_sampler_init_grammar(llama._model.vocab, gbnf.encode(), b"root")
    if not grammar:
        raise InputError("grammar", "llama.cpp cannot parse this GBNF grammar")
    combined = LlamaSampler()  # type: ignore[no-untyped-call]
    llama_cpp.llama_sampler_chain_add(combined.sampler, grammar)
    while llama_cpp.llama_sampler_chain_n(chain.sampler) > 0:
        moved = llama_cpp.llama_sampler_chain_remove(chain.sampler, 0)
        llama_cpp.llama_sampler_chain_add(combined.sampler, moved)
    return combined


def _uses_history(settings: SamplerSettings) -> bool:
    """Whether the chain must see the prompt (penalties and DRY look back at it)."""
    return any(stage in ("penalties", "dry") for stage in active_stages(settings))


def _sample_logits(chain: Any, logits: npt.NDArray[np.float32]) -> int:
    """Sample (and accept) one token from ``logits``, as ``llama_sampler_sample`` does."""
    n_vocab = len(logits)
    data = (llama_cpp.llama_token_data * n_vocab)()
    view = np.ctypeslib.as_array(data)  # fields id, logit, p
    view["id"] = np.arange(n_vocab, dtype=np.int32)
    view["logit"] = logits
    view["p"] = 0.0
    pointer = ctypes.cast(data, llama_cpp.llama_token_data_p)
    candidates = llama_cpp.llama_token_data_array(
        data=pointer, size=n_vocab, selected=-1, sorted=False
    )
    llama_cpp.llama_sampler_apply(chain.sampler, ctypes.byref(candidates))
    token = int(candidates.data[candidates.selected].id)
    llama_cpp.llama_sampler_accept(chain.sampler, token)
    return token
