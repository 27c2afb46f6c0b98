"""A chat's embedded chunks, in SQLite and in memory, and exact cosine search over them.

Every message on the active path is cut into chunks (:func:`~app.prompt.chunking.chunk_text`)
and embedded; a message whose text changed since (an edit) is embedded again, and so is
every message when the embedding model changes.  Each chat's vectors are held in one
matrix once read, so a search is one matrix-vector product.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from app.engine.embedder import Embedder
from app.prompt.chunking import CHUNK_CHARS, chunk_text
from app.storage.memory_types import StoredChunk
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Message

if TYPE_CHECKING:
    from numpy.typing import NDArray

_K = TypeVar("_K")
_V = TypeVar("_V")
#: ``progress(done, total)`` in messages.
ProgressCallback = Callable[[int, int], None]
#: Two chunks at least this similar say the same; only one of them is recalled.
NEAR_COPY = 0.95
#: Chunks embedded (and stored) per step.
EMBED_STEP = 1024
#: Chats whose vectors are held in memory, the least recently used dropped first (a
#: chat of 10,000 messages holds about 18 MB; a dropped one is read again from SQLite).
HELD_CHATS = 8
#: Vectorized lorebook entries' vectors held, by text, the least recently used dropped
#: first (1.5 KB each).
HELD_TEXTS = 4096


@dataclass(frozen=True)
class Hit:
    """A recalled chunk and how similar it is to the query."""

    message_id: int
    chunk_index: int
    text: str
    score: float


@dataclass
class _Vectors:
    """One chat's chunks in memory: a row of ``matrix`` per chunk."""

    dim: int
    digests: dict[int, str] = field(default_factory=dict)
    message_ids: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    chunk_indexes: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    matrix: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def drop(self, message_ids: Iterable[int]) -> None:
        gone = np.fromiter(message_ids, np.int64)
        keep = ~np.isin(self.message_ids, gone)
        self.message_ids = self.message_ids[keep]
        self.matrix = self.matrix[keep]
        rows = np.flatnonzero(keep)
        self.chunk_indexes = [self.chunk_indexes[i] for i in rows]
        self.texts = [self.texts[i] for i in rows]

    def mean_of(self, message_id: int) -> NDArray[np.float32]:
        """The unit-length mean of a message's chunk vectors (zeros: it has none)."""
        rows = self.matrix.reshape(-1, self.dim)[self.message_ids == message_id]
        if not len(rows):
            return np.zeros(self.dim, np.float32)
        mean = rows.mean(axis=0)
        unit: NDArray[np.float32] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(
            np.float32
        )
        return unit

    def row_of(self, message_id: int, chunk_index: int, text: str) -> int | None:
        """The row holding that chunk with that text (None: gone or changed)."""
        for row in np.flatnonzero(self.message_ids == message_id):
            if self.chunk_indexes[row] == chunk_index and self.texts[row] == text:
                return int(row)
        return None

    def add(self, chunks: Sequence[StoredChunk], vectors: NDArray[np.float32]) -> None:
        ids = np.fromiter((c.message_id for c in chunks), np.int64, len(chunks))
        self.message_ids = np.concatenate([self.message_ids, ids])
        self.matrix = np.concatenate([self.matrix.reshape(-1, self.dim), vectors])
        self.chunk_indexes.extend(c.chunk_index for c in chunks)
        self.texts.extend(c.text for c in chunks)
        for chunk in chunks:
            self.digests[chunk.message_id] = chunk.digest


def digest_of(message: Message) -> str:
    """What a message's chunks depend on: its speaker, text and the chunk size."""
    data = f"{CHUNK_CHARS}\x00{message.speaker}\x00{message.content}".encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def chunks_of(message: Message, digest: str) -> list[StoredChunk]:
    """The message's chunks (each led by its speaker's name), not yet embedded."""
    return [
        StoredChunk(message.id, i, digest, f"{message.speaker}: {text}", b"")
        for i, text in enumerate(chunk_text(message.content))
    ]


class MemoryIndex:
    """Embeds chats' messages and searches their chunks (thread-safe)."""

    def __init__(self, repository: MemoryRepository, embedder: Embedder) -> None:
        self.embedder = embedder
        self._repository = repository
        self._chats: OrderedDict[int, _Vectors] = OrderedDict()
        #: Vectors of texts that are not messages (vectorized lorebook entries), by text.
        self._texts: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.RLock()

    def missing(self, chat_id: int, messages: Sequence[Message]) -> list[Message]:
        """The stored messages among ``messages`` whose chunks are missing or out of date."""
        with self._lock:
            digests = self._vectors(chat_id).digests
            return [m for m in messages if m.id > 0 and digests.get(m.id) != digest_of(m)]

    def update(
        self,
        chat_id: int,
        messages: Sequence[Message],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """Embed those of ``messages`` that need it; returns how many were embedded.

        ``cancel`` (background work giving way to a reply) stops it within a batch of
        texts; what was stored by then stays.
        """
        with self._lock:
            todo = self.missing(chat_id, messages)
            if progress is not None and todo:
                progress(0, len(todo))  # a bar from the start (the model may load first)
            done = 0
            for batch in _batches(todo):
                if cancel is not None and cancel.is_set():
                    return done
                told = _in_messages(progress, done, len(batch), len(todo))
                try:
                    self._embed(chat_id, batch, _cancellable(told, cancel))
                except _Cancelled:
                    return done
                done += len(batch)
                if progress is not None:
                    progress(done, len(todo))
            return len(todo)

    def warm(self, chat_id: int, messages: Sequence[Message], cancel: threading.Event) -> int:
        """Load the embedding model and the chat's vectors, and embed those of
        ``messages`` that need it (until ``cancel``); returns how many were embedded."""
        self.embedder.load()
        return self.update(chat_id, messages, cancel=cancel)

    def query_vectors(self, chat_id: int, messages: Sequence[Message]) -> NDArray[np.float32]:
        """One query row per message: a stored message's held chunk vectors, averaged (no
        embedding), else its text embedded now."""
        rows: list[NDArray[np.float32] | None] = []
        with self._lock:
            vectors = self._vectors(chat_id)
            held = vectors.digests
            for message in messages:
                if message.id > 0 and held.get(message.id) == digest_of(message):
                    rows.append(vectors.mean_of(message.id))
                else:
                    rows.append(None)
        todo = [m.content for m, row in zip(messages, rows, strict=True) if row is None]
        fresh: Iterator[NDArray[np.float32]] = iter(
            self.embedder.embed(todo) if todo else _empty(self.embedder.dim)
        )
        filled = [row if row is not None else next(fresh) for row in rows]
        return np.stack(filled).astype(np.float32) if filled else _empty(self.embedder.dim)

    def search(
        self,
        chat_id: int,
        query: NDArray[np.float32],
        eligible: Sequence[int],
        *,
        limit: int,
        threshold: float,
    ) -> list[Hit]:
        """Up to ``limit`` chunks of the messages in ``eligible`` similar to ``query``
        (:meth:`query_vectors`, one row per message, newest first), none a near-copy
        of a query message.

        Each query row ranks the chunks on its own and the rankings are taken in turns,
        so the newest message's best match is always among the first; a chunk nearly the
        same as one already taken is skipped.
        """
        with self._lock:
            vectors = self._vectors(chat_id)
            if not len(vectors.message_ids) or not eligible or limit <= 0 or not len(query):
                return []
            ids, matrix = vectors.message_ids, vectors.matrix
            chunk_indexes, texts = vectors.chunk_indexes, vectors.texts
        scores = matrix @ query.T
        best = scores.max(axis=1)
        # A copy of a query message (still in the prompt) would tell the model nothing.
        allowed = np.isin(ids, np.asarray(eligible, np.int64)) & (best < NEAR_COPY)
        rankings = [_ranked(scores[:, q], allowed, threshold) for q in range(len(query))]
        chosen = _interleaved(rankings, matrix, limit)
        return [Hit(int(ids[i]), chunk_indexes[i], texts[i], float(best[i])) for i in chosen]

    def rescored(
        self, chat_id: int, hits: Sequence[Hit], query: NDArray[np.float32]
    ) -> list[Hit] | None:
        """``hits`` scored against ``query`` (None: one of their chunks is gone or changed)."""
        with self._lock:
            vectors = self._vectors(chat_id)
            rows = [vectors.row_of(h.message_id, h.chunk_index, h.text) for h in hits]
            if any(row is None for row in rows) or not len(query):
                return None
            matrix = vectors.matrix[[r for r in rows if r is not None]]
        best = (matrix @ query.T).max(axis=1)
        return [replace(h, score=float(s)) for h, s in zip(hits, best, strict=True)]

    def similar_texts(
        self, texts: Sequence[str], query: NDArray[np.float32], *, limit: int, threshold: float
    ) -> list[int]:
        """Indexes of the ``limit`` texts most similar to any query row, at least
        ``threshold`` similar (the texts' vectors are kept, by text, for the next call)."""
        if not texts or not len(query) or limit <= 0:
            return []
        with self._lock:
            held = {t: self._texts[t] for t in dict.fromkeys(texts) if t in self._texts}
            for text in held:
                self._texts.move_to_end(text)
        todo = [t for t in dict.fromkeys(texts) if t not in held]
        if todo:
            fresh = dict(zip(todo, self.embedder.embed(todo), strict=True))
            held.update(fresh)
            with self._lock:
                self._texts.update(fresh)
                _drop_oldest(self._texts, HELD_TEXTS)
        matrix = np.stack([held[t] for t in texts])
        scores = (matrix @ query.T).max(axis=1)
        rows = np.flatnonzero(scores >= threshold)
        return [int(i) for i in rows[np.argsort(-scores[rows], kind="stable")[:limit]]]

    def size(self, chat_id: int) -> tuple[int, int]:
        """How many chunks, of how many messages, the chat's index holds."""
        return self._repository.size(chat_id)

    def clear(self, chat_id: int) -> None:
        """Forget the chat's chunks (stored and held)."""
        with self._lock:
            self._repository.clear(chat_id)
            self._chats.pop(chat_id, None)

    def _vectors(self, chat_id: int) -> _Vectors:
        vectors = self._chats.get(chat_id)
        if vectors is not None:
            self._chats.move_to_end(chat_id)
        else:
            vectors = _Vectors(self.embedder.dim)
            stored = self._repository.chunks(chat_id, self.embedder.name)
            if stored:
                raw = b"".join(c.vector for c in stored)
                matrix = np.frombuffer(raw, dtype="<f4").reshape(len(stored), vectors.dim)
                vectors.add(stored, matrix.astype(np.float32))
            self._chats[chat_id] = vectors
            _drop_oldest(self._chats, HELD_CHATS)
        return vectors

    def _embed(
        self,
        chat_id: int,
        messages: Sequence[Message],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        pending = [c for m in messages for c in chunks_of(m, digest_of(m))]
        told = None if progress is None else lambda done: progress(done, len(pending))
        vectors = (
            self.embedder.embed([c.text for c in pending], told)
            if pending
            else _empty(self.embedder.dim)
        )
        stored = [
            StoredChunk(c.message_id, c.chunk_index, c.digest, c.text, v.astype("<f4").tobytes())
            for c, v in zip(pending, vectors, strict=True)
        ]
        by_message: dict[int, list[StoredChunk]] = {m.id: [] for m in messages}
        for chunk in stored:
            by_message[chunk.message_id].append(chunk)
        self._repository.replace(chat_id, self.embedder.name, self.embedder.dim, by_message)
        held = self._vectors(chat_id)
        held.drop(by_message)
        held.add(stored, vectors)
        for message in messages:  # a message with no text has no chunks, but is done
            held.digests[message.id] = digest_of(message)


def _ranked(scores: NDArray[np.float32], allowed: NDArray[np.bool_], threshold: float) -> list[int]:
    """Rows that are allowed and score at least ``threshold``, best first."""
    rows = np.flatnonzero(allowed & (scores >= threshold))
    return [int(i) for i in rows[np.argsort(-scores[rows], kind="stable")]]


def _interleaved(
    rankings: Sequence[list[int]], matrix: NDArray[np.float32], limit: int
) -> list[int]:
    """Rows taken from ``rankings`` in turns, skipping any nearly the same as one taken."""
    chosen: list[int] = []
    cursors = [0] * len(rankings)
    while len(chosen) < limit and any(c < len(r) for c, r in zip(cursors, rankings, strict=True)):
        for q, ranking in enumerate(rankings):
            while cursors[q] < len(ranking) and len(chosen) < limit:
                row = ranking[cursors[q]]
                cursors[q] += 1
                if row not in chosen and not _near_copy(matrix, row, chosen):
                    chosen.append(row)
                    break
    return chosen


def _near_copy(matrix: NDArray[np.float32], row: int, chosen: Sequence[int]) -> bool:
    """Whether ``row`` is nearly the same text as one of ``chosen`` (cosine ≥ 0.95)."""
    return bool(chosen) and float(np.max(matrix[chosen] @ matrix[row])) >= NEAR_COPY


class _Cancelled(Exception):
    """An embedding given up for a reply."""


def _cancellable(
    progress: Callable[[int, int], None] | None, cancel: threading.Event | None
) -> Callable[[int, int], None] | None:
    """``progress``, raising :class:`_Cancelled` once ``cancel`` is set."""
    if cancel is None:
        return progress

    def told(done: int, of: int) -> None:
        if cancel.is_set():
            raise _Cancelled
        if progress is not None:
            progress(done, of)

    return told


def _in_messages(
    progress: ProgressCallback | None, before: int, batch: int, total: int
) -> Callable[[int, int], None] | None:
    """``progress`` in messages, told a step's chunks done of its ``batch`` messages."""
    if progress is None:
        return None
    return lambda chunks, of: progress(before + batch * chunks // max(of, 1), total)


def _batches(messages: Sequence[Message]) -> Iterable[list[Message]]:
    """``messages`` in runs of about :data:`EMBED_STEP` chunks."""
    batch: list[Message] = []
    size = 0
    for message in messages:
        batch.append(message)
        size += max(1, len(message.content) // CHUNK_CHARS + 1)
        if size >= EMBED_STEP:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _drop_oldest(held: OrderedDict[_K, _V], keep: int) -> None:
    """Drop the least recently used entries of ``held`` beyond ``keep``."""
    while len(held) > keep:
        held.popitem(last=False)


def _empty(dim: int) -> NDArray[np.float32]:
    """No rows of ``dim`` floats."""
    return np.zeros((0, dim), np.float32)
