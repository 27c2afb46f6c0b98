"""Summaries of the messages that left the context, written in the background.

Messages on the active path are summarized in blocks (the chat's ``summary_block``) once
a whole block is out of the prompt.  A summary names the messages it covers and a digest
of their text: an edit, a swipe or a deletion among them makes it stale on this path and
it is written again.  Summaries over the chat's share of the context are merged, oldest
first (pinned ones never are).

The loaded model writes them after a reply, on a thread of its own; a reply that starts
meanwhile cancels the summary under way (:meth:`SummaryWorker.pause`), so it never waits
for more than the abort.  The in-process backend saves the chat's KV cache when the
summary's prompt displaces it and restores it for the next reply.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.chat.background import BackgroundWorker, IdleJobs
from app.storage.memory_types import MemorySettings, Summary
from app.storage.types import Message

#: ``write(instruction, text, cancel, max_tokens) -> summary`` (None: cancelled or failed).
Writer = Callable[[str, str, threading.Event, int], str | None]
#: ``count(text) -> tokens`` in the loaded model.
TokenCounter = Callable[[str], int]

#: A summary's length in tokens, at most …
SUMMARY_TOKENS = 160
#: … and at least, however small the story's share of the context.
MIN_SUMMARY_TOKENS = 48

SUMMARY_INSTRUCTION = (
    "Summarize this part of a roleplay chat in at most three sentences. Keep names, "
    "places, facts, decisions and promises; write in the past tense."
)
MERGE_INSTRUCTION = (
    "These are summaries of two consecutive parts of a story. Combine them into one "
    "summary of at most four sentences, keeping names, places, facts and decisions."
)
#: A message longer than this many characters is cut in a summary's prompt.
MESSAGE_CHARS = 800


def block_digest(messages: Sequence[Message]) -> str:
    """What a summary of ``messages`` depends on: their ids, speakers and texts."""
    hasher = hashlib.blake2b(digest_size=12)
    for message in messages:
        hasher.update(f"{message.id}\x00{message.speaker}\x00{message.content}\x01".encode())
    return hasher.hexdigest()


def transcript(messages: Sequence[Message], max_chars: int) -> str:
    """``Speaker: text`` lines of ``messages``, each cut short, the whole within ``max_chars``."""
    lines = []
    for message in messages:
        text = " ".join(message.content.split())
        if len(text) > MESSAGE_CHARS:
            text = text[:MESSAGE_CHARS] + " …"
        lines.append(f"{message.speaker}: {text}")
    joined = "\n".join(lines)
    return joined[-max_chars:] if len(joined) > max_chars else joined


@dataclass(frozen=True)
class Coverage:
    """How a chat's summaries cover the start of its active path."""

    #: Summaries valid on this path, in path order.
    valid: tuple[Summary, ...] = ()
    #: Blocks of messages that need a summary (or a new one).
    missing: tuple[tuple[Message, ...], ...] = ()
    #: For each missing block, the stale summary of the same messages it replaces.
    replaces: tuple[tuple[int, ...], ...] = ()


def coverage(
    path: Sequence[Message], first_in: int, block: int, summaries: Sequence[Summary]
) -> Coverage:
    """Which summaries hold for the messages before ``first_in`` and which blocks lack one."""
    by_first: dict[int, list[Summary]] = {}
    for summary in summaries:
        if summary.kind == "summary" and summary.message_ids:
            by_first.setdefault(summary.message_ids[0], []).append(summary)
    valid: list[Summary] = []
    missing: list[tuple[Message, ...]] = []
    replaces: list[tuple[int, ...]] = []
    i = 0
    while i < first_in and block > 0:
        candidates = sorted(by_first.get(path[i].id, []), key=lambda s: -len(s.message_ids))
        fits = (s for s in candidates if i + len(s.message_ids) <= first_in)
        found = next((s for s in fits if _holds(s, path, i)), None)
        if found is not None:
            valid.append(found)
            i += len(found.message_ids)
            continue
        if i + block > first_in:
            break
        run = tuple(path[i : i + block])
        ids = tuple(m.id for m in run)
        missing.append(run)
        replaces.append(tuple(s.id for s in candidates if s.message_ids == ids))
        i += block
    return Coverage(tuple(valid), tuple(missing), tuple(replaces))


def _holds(summary: Summary, path: Sequence[Message], start: int) -> bool:
    run = path[start : start + len(summary.message_ids)]
    if tuple(m.id for m in run) != summary.message_ids:
        return False
    return summary.pinned or block_digest(run) == summary.digest


def story_budget(n_ctx: int, settings: MemorySettings) -> int:
    """Tokens the story so far may take in a context of ``n_ctx``."""
    return int(n_ctx * settings.summary_share)


def summary_tokens(budget: int) -> int:
    """How long a summary may be: two of them fit in the story's ``budget``."""
    return max(MIN_SUMMARY_TOKENS, min(SUMMARY_TOKENS, budget // 2))


def over_budget(
    summaries: Sequence[Summary], budget: int, count: TokenCounter
) -> tuple[Summary, Summary] | None:
    """The two oldest adjacent unpinned summaries to merge, if the whole is over
    ``budget`` tokens."""
    if sum(count(s.text) for s in summaries) <= budget:
        return None
    for older, newer in itertools.pairwise(summaries):
        if not older.pinned and not newer.pinned:
            return older, newer
    return None


class SummaryStore:
    """What the worker reads and writes (the memory repository and the chat's path)."""

    def __init__(
        self,
        summaries: Callable[[int], list[Summary]],
        add: Callable[..., Summary],
        path: Callable[[int], list[Message]],
        settings: Callable[[int], MemorySettings],
    ) -> None:
        self.summaries = summaries
        self.add = add
        self.path = path
        self.settings = settings


class SummaryWorker(BackgroundWorker):
    """Writes chats' summaries on one background thread, out of the replies' way.

    Each job first embeds what the chat's index lacks (the reply just written), so the
    next turn's recall does not wait for it.
    """

    def __init__(
        self,
        store: SummaryStore,
        write: Writer,
        count: TokenCounter,
        index: Callable[[int, Sequence[Message]], object] | None = None,
    ) -> None:
        super().__init__(IdleJobs("parlor-summaries"))
        self._store = store
        self._write = write
        self._count = count
        self._index = index
        #: Told the chat's id when a job changed its story so far (a summary written or
        #: merged): the composition root fills the chat's KV slot with the new story then.
        self.on_story_changed: Callable[[int], None] | None = None

    def schedule(self, chat_id: int, first_in: int, n_ctx: int) -> None:
        """Summarize what left the chat's prompt (``first_in``: its oldest message's index)."""
        settings = self._store.settings(chat_id)
        if not settings.enabled or first_in < 1:
            return
        if settings.summary_block <= 0 and self._index is None:
            return
        self._jobs.schedule(chat_id, lambda cancel: self._run(chat_id, first_in, n_ctx, cancel))

    def _run(self, chat_id: int, first_in: int, n_ctx: int, cancel: threading.Event) -> None:
        if self._index is not None:
            self._index(chat_id, self._store.path(chat_id))
        if cancel.is_set() or self._store.settings(chat_id).summary_block <= 0:
            return
        changed = self._summarize(chat_id, first_in, n_ctx, cancel)
        if changed and not cancel.is_set() and self.on_story_changed is not None:
            self.on_story_changed(chat_id)

    def _summarize(self, chat_id: int, first_in: int, n_ctx: int, cancel: threading.Event) -> bool:
        """Write the summaries missing or stale, then merge; whether any was written."""
        settings = self._store.settings(chat_id)
        path = self._store.path(chat_id)
        plan = coverage(
            path, min(first_in, len(path)), settings.summary_block, self._store.summaries(chat_id)
        )
        room = n_ctx * 2  # characters of transcript: about half the context
        length = summary_tokens(story_budget(n_ctx, settings))
        wrote = False
        for run, replaces in zip(plan.missing, plan.replaces, strict=True):
            text = self._write(SUMMARY_INSTRUCTION, transcript(run, room), cancel, length)
            if text is None or cancel.is_set():
                return wrote
            self._store.add(
                chat_id, "summary", text, message_ids=[m.id for m in run],
                digest=block_digest(run), replaces=replaces,
            )  # fmt: skip
            wrote = True
        return self._merge(chat_id, path, first_in, settings, n_ctx, cancel) or wrote

    def _merge(
        self,
        chat_id: int,
        path: Sequence[Message],
        first_in: int,
        settings: MemorySettings,
        n_ctx: int,
        cancel: threading.Event,
    ) -> bool:
        """Merge the oldest summaries while the story is over its budget; whether any
        merge was written."""
        budget = story_budget(n_ctx, settings)
        merged = False
        while not cancel.is_set():
            plan = coverage(path, first_in, settings.summary_block, self._store.summaries(chat_id))
            pair = over_budget(plan.valid, budget, self._count)
            if pair is None:
                return merged
            older, newer = pair
            both = f"1. {older.text}\n2. {newer.text}"
            text = self._write(MERGE_INSTRUCTION, both, cancel, summary_tokens(budget))
            if text is None or cancel.is_set():
                return merged
            ids = [*older.message_ids, *newer.message_ids]
            run = [m for m in path if m.id in set(ids)]
            self._store.add(
                chat_id, "summary", text, message_ids=ids, digest=block_digest(run),
                replaces=(older.id, newer.id),
            )  # fmt: skip
            merged = True
        return merged
