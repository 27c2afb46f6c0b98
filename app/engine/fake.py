"""A scripted backend for orchestration unit tests: no model, deterministic replies."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence

from app.engine.base import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    TextDelta,
)
from app.engine.stopping import StopMatcher


class FakeBackend:
    """Replies with queued chunks; records every request it was given.

    Tokens are Unicode code points, so counts are easy to predict in tests.
    """

    def __init__(self, *, n_ctx: int = 4096, name: str = "fake", can_shift: bool = True) -> None:
        self._queue: deque[list[str]] = deque()
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self.requests: list[GenerationRequest] = []
        #: Set by tests to pause a stream between chunks (to test stop).
        self.chunk_gate: threading.Event | None = None
        self._info = ModelInfo(
            name=name,
            path=f"<{name}>",
            architecture="fake",
            n_ctx=n_ctx,
            n_ctx_train=n_ctx,
            n_vocab=0x110000,
            chat_template=None,
            bos_token="",
            eos_token="",
            bos_token_id=-1,
            eos_token_id=-1,
            eot_token_id=None,
            add_bos=False,
            can_shift=can_shift,
        )

    def enqueue(self, chunks: Sequence[str]) -> None:
        """Queue the chunks of one future reply."""
        self._queue.append(list(chunks))

    @property
    def info(self) -> ModelInfo:
        """Facts of the fake model."""
        return self._info

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """One token per code point."""
        return [ord(c) for c in text]

    def detokenize(self, tokens: Sequence[int], *, special: bool = True) -> str:
        """Code points back to text."""
        return "".join(chr(t) for t in tokens)

    def count_tokens(self, text: str) -> int:
        """Length in code points."""
        return len(text)

    def abort(self) -> None:
        """Stop the running stream before its next chunk."""
        self._abort.set()

    def close(self) -> None:
        """Nothing to free."""

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """Yield the next queued reply chunk by chunk, honouring stop strings."""
        with self._lock:
            self._abort.clear()
            self.requests.append(request)
            chunks = self._queue.popleft() if self._queue else ["fake reply"]
            matcher = StopMatcher(request.stop)
            text, reason = "", "stop"
            for chunk in chunks:
                if self.chunk_gate is not None:
                    self.chunk_gate.wait(timeout=5)
                if self._abort.is_set() or request.cancel.is_set():
                    reason = "aborted"
                    break
                delta = matcher.feed(chunk)
                if delta:
                    text += delta
                    yield TextDelta(delta)
                if matcher.stopped:
                    break
            tail = matcher.flush()
            if tail:
                text += tail
                yield TextDelta(tail)
            yield Finished(_reason(reason), text, self._stats(request, text))

    def _stats(self, request: GenerationRequest, text: str) -> GenerationStats:
        n = len(request.prompt_tokens)
        return GenerationStats(n, len(text), 0, n, 0.0, 0.0, request.sampler.seed)


def _reason(value: str) -> FinishReason:
    return "aborted" if value == "aborted" else "stop"
