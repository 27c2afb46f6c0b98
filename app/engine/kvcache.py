"""Plan how a new prompt reuses the KV cache: kept prefix, context shift and moved chunks.

The KV cache holds the tokens of the previous request (``cached``).  A roleplay prompt
changes in a few typical ways between requests, and each has a cheap answer:

* a swipe or regenerate repeats the prompt: keep it all, evaluate the last token again;
* a new turn appends messages: keep the prefix, evaluate the new tail;
* an overflow drops the oldest messages after the story string (context shift): keep
  the story prefix, remove the dropped chunk and shift the rest of the history left;
* an injection at a fixed depth (author's note, lorebook) moves every turn: the history
  on either side of it is still in the cache, just at other positions.

:func:`plan_reuse` finds all of these at once.  The result is a :class:`ReusePlan`: an
ordered list of :class:`Chunk` s, each a run of cached tokens that reappears in the prompt
(``cached[src:src+length] == prompt[dst:dst+length]``), and the gaps between them, which
are evaluated.  Chunks appear in the same order in both sequences.  The first chunk may
be the common prefix (``src == dst == 0``); chunks that follow it directly (no gap in the
prompt before them) are *leading* chunks and move left in place; chunks after the first
gap are *parked*: the executor keeps them in a spare sequence while the gap before them
is evaluated.  A moved chunk keeps keys and values computed under its old neighbours,
exactly as KoboldCpp's ContextShift and llama-server's ``--cache-reuse`` do; only chunks of
at least ``min_chunk`` tokens are moved, so short coincidental matches are evaluated.

The last prompt token is never part of a chunk: it is always evaluated, alone, so its
logits are fresh and a fixed seed reproduces a reply whether the prompt was cached or not.

Models whose cache cannot shift are trimmed in chunks by the chat layer
(``app.chat.trimming``).  This module is pure: no llama.cpp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: The shortest run of cached tokens worth moving (shorter matches are re-evaluated).
MIN_CHUNK = 32
#: How many chunks after a gap one plan may move (each needs a spare sequence id).
MAX_PARKED = 3
#: Candidate cache positions examined per k-gram (bounds the work on repetitive text).
_MAX_CANDIDATES = 16
_HASH_BASE = 0x9E3779B97F4A7C15

_Tokens = npt.NDArray[np.integer[Any]]


@dataclass(frozen=True)
class Chunk:
    """Cached tokens ``cached[src:src+length]`` reused as ``prompt[dst:dst+length]``."""

    src: int
    dst: int
    length: int

    @property
    def shift(self) -> int:
        """How far the chunk moves (negative: towards the start)."""
        return self.dst - self.src


@dataclass(frozen=True)
class ReusePlan:
    """Which cached chunks a prompt of ``n_prompt`` tokens reuses, in prompt order."""

    n_prompt: int
    chunks: tuple[Chunk, ...] = ()

    @property
    def reused(self) -> int:
        """Prompt tokens taken from the cache."""
        return sum(c.length for c in self.chunks)

    @property
    def evaluated(self) -> int:
        """Prompt tokens that must be evaluated."""
        return self.n_prompt - self.reused

    @property
    def shifted(self) -> bool:
        """Whether any chunk moves or waits for a gap (needs a cache that can shift)."""
        return any(c.shift != 0 or c.dst > 0 for c in self.chunks)

    def gaps(self) -> tuple[tuple[int, int], ...]:
        """Prompt ranges ``(start, end)`` to evaluate, in order; the last ends the prompt."""
        ranges: list[tuple[int, int]] = []
        at = 0
        for chunk in self.chunks:
            if chunk.dst > at:
                ranges.append((at, chunk.dst))
            at = chunk.dst + chunk.length
        ranges.append((at, self.n_prompt))
        return tuple(ranges)

    def leading(self) -> tuple[Chunk, ...]:
        """Chunks before the first gap: they end up at ``0 .. leading_end``."""
        out: list[Chunk] = []
        at = 0
        for chunk in self.chunks:
            if chunk.dst != at:
                break
            out.append(chunk)
            at += chunk.length
        return tuple(out)

    def parked(self) -> tuple[Chunk, ...]:
        """Chunks after the first gap: kept aside while the gap before them is evaluated."""
        return self.chunks[len(self.leading()) :]

    def kept_cache_ranges(self) -> tuple[tuple[int, int], ...]:
        """Cache ranges ``(start, end)`` some chunk reuses, in order."""
        return tuple((c.src, c.src + c.length) for c in self.chunks)

    @property
    def cache_end(self) -> int:
        """Where the last reused chunk ends in the cache; all after it is dropped."""
        return max((c.src + c.length for c in self.chunks), default=0)


def common_prefix(a: Sequence[int] | _Tokens, b: Sequence[int] | _Tokens) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if differ.size else n


def plan_reuse(
    cached: Sequence[int] | _Tokens,
    prompt: Sequence[int] | _Tokens,
    *,
    can_shift: bool,
    min_chunk: int = MIN_CHUNK,
    max_parked: int = MAX_PARKED,
) -> ReusePlan:
    """Plan how ``prompt`` reuses the KV cache holding ``cached`` (see the module doc).

    Without ``can_shift`` only the common prefix is kept.  ``max_parked`` bounds the
    chunks after the first gap (0 allows only the prefix and a plain context shift).
    """
    if len(prompt) == 0:
        raise ValueError("empty prompt")
    c = np.asarray(cached, dtype=np.int64)
    p = np.asarray(prompt, dtype=np.int64)
    limit = len(p) - 1  # the last prompt token is always evaluated
    prefix = common_prefix(c, p[:limit])
    chunks = [Chunk(0, 0, prefix)] if prefix else []
    if can_shift and min_chunk > 0:
        chunks += _moved_chunks(c, p, prefix, limit, min_chunk, max_parked)
    return ReusePlan(len(p), tuple(chunks))


def _kgram_hashes(tokens: _Tokens, k: int) -> npt.NDArray[np.uint64]:
    """A 64-bit polynomial hash of every run of ``k`` tokens (wrapping arithmetic)."""
    windows = np.lib.stride_tricks.sliding_window_view(tokens.astype(np.uint64), k)
    weights = np.array([pow(_HASH_BASE, i, 1 << 64) for i in range(k)], dtype=np.uint64)
    hashes: npt.NDArray[np.uint64] = (windows * weights).sum(axis=1, dtype=np.uint64)
    return hashes


def _moved_chunks(
    c: _Tokens, p: _Tokens, start: int, limit: int, k: int, max_parked: int
) -> list[Chunk]:
    """Greedy left-to-right matching of ``p[start:limit]`` against ``c[start:]``."""
    if limit - start < k or len(c) - start < k:
        return []
    hc = _kgram_hashes(c[start:], k)
    hp = _kgram_hashes(p[start:limit], k)
    order = np.argsort(hc, kind="stable")
    sorted_hc = hc[order]
    lo = np.searchsorted(sorted_hc, hp, "left")
    hi = np.searchsorted(sorted_hc, hp, "right")
    present = np.flatnonzero(hi > lo)  # prompt offsets whose k-gram occurs in the cache
    chunks: list[Chunk] = []
    head_c = head_p = start
    parked = 0
    i = 0
    while i < present.size:
        rel = int(present[i])
        q = start + rel
        found = _best_match(c, p, q, limit, head_c, start + order[lo[rel] : hi[rel]], k)
        if found is None:
            i += 1
            continue
        j, length = found
        if q > head_p or parked:
            if parked == max_parked:
                break
            parked += 1
        chunks.append(Chunk(j, q, length))
        head_c, head_p = j + length, q + length
        i = int(np.searchsorted(present, head_p - start, "left"))
    return chunks


def _best_match(
    c: _Tokens,
    p: _Tokens,
    q: int,
    limit: int,
    head_c: int,
    candidates: npt.NDArray[np.intp],
    k: int,
) -> tuple[int, int] | None:
    """The longest verified run ``c[j:] == p[q:limit]`` with ``j >= head_c``."""
    best: tuple[int, int] | None = None
    tried = 0
    for j in candidates:
        if j < head_c:
            continue
        length = common_prefix(c[j:], p[q:limit])
        if length >= k and (best is None or length > best[1]):
            best = (int(j), length)
        tried += 1
        if tried == _MAX_CANDIDATES:
            break
    return best
