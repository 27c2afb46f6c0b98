"""Summaries of the messages that left the context, written in the background.

Messages on the active path are summarized in blocks (the chat's ``summary_block``) once
a whole block is out of the prompt.  A block whose transcript does not fit in the
summary's prompt (measured in the model's tokens) is summarized in parts of whole
messages, and the parts' summaries are combined into the block's one summary: no text is
left out, but for the end of a single message too long for a prompt on its own.

A summary names the messages it covers and a digest of their text: an edit, a swipe or a
deletion among them makes it stale on this path and it is written again, in place of
every stale summary of any of its messages (a merged one included).  Summaries over the
chat's share of the context are merged, oldest first (pinned ones never are).

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
#: :data:`MERGE_INSTRUCTION` for any number of parts (``{parts}``: how many).
PARTS_INSTRUCTION = (
    "These are summaries of {parts} consecutive parts of a story, in order. Combine them "
    "into one summary of at most four sentences, keeping names, places, facts and decisions."
)
#: Tokens a summary's prompt leaves spare besides its instruction and answer: the chat
#: template's role markers, and what counting its lines one by one misses.
PROMPT_MARGIN = 64
#: Tokens a numbered summary's number takes in a prompt that combines summaries.
NUMBER_TOKENS = 3
#: Where a message too long for a summary's prompt on its own was cut.
CUT_MARK = " …"


def block_digest(messages: Sequence[Message]) -> str:
    """What a summary of ``messages`` depends on: their ids, speakers and texts."""
    hasher = hashlib.blake2b(digest_size=12)
    for message in messages:
        hasher.update(f"{message.id}\x00{message.speaker}\x00{message.content}\x01".encode())
    return hasher.hexdigest()


def transcript_line(message: Message) -> str:
    """``Speaker: text`` of ``message``, its whitespace made single spaces."""
    return f"{message.speaker}: {' '.join(message.content.split())}"


def prompt_room(n_ctx: int, instruction: str, length: int, count: TokenCounter) -> int:
    """Tokens of text a prompt of ``instruction`` may hold in a context of ``n_ctx``,
    an answer of ``length`` tokens after it."""
    return n_ctx - count(instruction) - length - PROMPT_MARGIN


def packed(lines: Sequence[str], room: int, count: TokenCounter) -> list[list[str]]:
    """``lines`` in consecutive groups of at most ``room`` tokens, line breaks included
    (a line longer than ``room`` is a group of its own)."""
    groups: list[list[str]] = []
    used = 0
    for line in lines:
        tokens = count(line) + 1
        if groups and used + tokens <= room:
            groups[-1].append(line)
            used += tokens
        else:
            groups.append([line])
            used = tokens
    return groups


def cut_to(text: str, room: int, count: TokenCounter) -> str:
    """``text`` if it takes at most ``room`` tokens, else its start, marked cut, within them."""
    tokens = count(text)
    if tokens <= room:
        return text
    start = text
    while start and tokens > room:
        start = start[: min(len(start) - 1, len(start) * room // tokens)]
        tokens = count(start + CUT_MARK)
    return start + CUT_MARK


def transcript_parts(messages: Sequence[Message], room: int, count: TokenCounter) -> list[str]:
    """The transcript of ``messages`` (``Speaker: text`` lines) in consecutive parts of
    at most ``room`` tokens each, in as few parts as its whole messages allow; only a
    message longer than ``room`` on its own is cut."""
    lines = [transcript_line(m) for m in messages]
    return [
        "\n".join(group) if len(group) > 1 else cut_to(group[0], room, count)
        for group in packed(lines, room, count)
    ]


def combine_instruction(parts: int) -> str:
    """The instruction to combine the summaries of ``parts`` consecutive parts."""
    return MERGE_INSTRUCTION if parts == 2 else PARTS_INSTRUCTION.format(parts=parts)


def numbered(texts: Sequence[str]) -> str:
    """``texts`` as a numbered list, one a line."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(texts, start=1))


@dataclass(frozen=True)
class Coverage:
    """How a chat's summaries cover the start of its active path."""

    #: Summaries valid on this path, in path order.
    valid: tuple[Summary, ...] = ()
    #: Blocks of messages that need a summary (or a new one).
    missing: tuple[tuple[Message, ...], ...] = ()
    #: For each missing block, the stale summaries of any of its messages it replaces
    #: (each in the first block of its messages only).
    replaces: tuple[tuple[int, ...], ...] = ()


def coverage(
    path: Sequence[Message], first_in: int, block: int, summaries: Sequence[Summary]
) -> Coverage:
    """Which summaries hold for the messages before ``first_in`` and which blocks lack one.

    At each place the longest summary that holds and ends before ``first_in`` is taken,
    else one that reaches past it: a rolling summary imported from SillyTavern covers
    the chat up to a recent message, still in the prompt, and is used as SillyTavern
    uses it rather than written again in blocks.
    """
    by_first: dict[int, list[Summary]] = {}
    for summary in summaries:
        if summary.kind == "summary" and summary.message_ids:
            by_first.setdefault(summary.message_ids[0], []).append(summary)
    valid: list[Summary] = []
    missing: list[tuple[Message, ...]] = []
    i = 0
    while i < first_in and block > 0:
        holding = [
            s
            for s in sorted(by_first.get(path[i].id, []), key=lambda s: -len(s.message_ids))
            if _holds(s, path, i)
        ]
        fits = [s for s in holding if i + len(s.message_ids) <= first_in]
        found = next(iter(fits or holding), None)
        if found is not None:
            valid.append(found)
            i += len(found.message_ids)
            continue
        if i + block > first_in:
            break
        missing.append(tuple(path[i : i + block]))
        i += block
    stale = stale_summaries(summaries, path) if missing else []
    replaces = first_only([replaced_by(run, stale) for run in missing])
    return Coverage(tuple(valid), tuple(missing), replaces)


def stale_summaries(summaries: Sequence[Summary], path: Sequence[Message]) -> list[Summary]:
    """The unpinned summaries that do not hold on ``path`` (a pinned one stays as the
    user kept it, for the path it holds on)."""
    where = {m.id: i for i, m in enumerate(path)}
    return [
        s
        for s in summaries
        if s.kind == "summary" and not s.pinned and s.message_ids
        and not (s.message_ids[0] in where and _holds(s, path, where[s.message_ids[0]]))
    ]  # fmt: skip


def replaced_by(run: Sequence[Message], stale: Sequence[Summary]) -> tuple[int, ...]:
    """The ``stale`` summaries a new summary of ``run`` replaces: those of any of its
    messages."""
    ids = {m.id for m in run}
    return tuple(s.id for s in stale if not ids.isdisjoint(s.message_ids))


def first_only(groups: Sequence[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    """``groups`` of summary ids with each id in the first group only: a summary is
    replaced once (its id may be given to the summary written in its place)."""
    seen: set[int] = set()
    firsts = []
    for group in groups:
        firsts.append(tuple(i for i in group if i not in seen))
        seen.update(group)
    return tuple(firsts)


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
        length = summary_tokens(story_budget(n_ctx, settings))
        wrote = False
        for run, replaces in zip(plan.missing, plan.replaces, strict=True):
            text = self._block_summary(run, n_ctx, length, cancel)
            if text is None or cancel.is_set():
                return wrote
            self._store.add(
                chat_id, "summary", text, message_ids=[m.id for m in run],
                digest=block_digest(run), replaces=replaces,
            )  # fmt: skip
            wrote = True
        return self._merge(chat_id, path, first_in, settings, n_ctx, cancel) or wrote

    def _block_summary(
        self, run: Sequence[Message], n_ctx: int, length: int, cancel: threading.Event
    ) -> str | None:
        """One summary of the block ``run``, of ``length`` tokens at most: of its whole
        transcript where it fits in one prompt, else of its parts', combined (None:
        cancelled or failed)."""
        room = prompt_room(n_ctx, SUMMARY_INSTRUCTION, length, self._count)
        summaries: list[str] = []
        for part in transcript_parts(run, room, self._count):
            text = self._write(SUMMARY_INSTRUCTION, part, cancel, length)
            if text is None or cancel.is_set():
                return None
            summaries.append(text)
        return self._combined(summaries, n_ctx, length, cancel)

    def _combined(
        self, summaries: Sequence[str], n_ctx: int, length: int, cancel: threading.Event
    ) -> str | None:
        """One summary of consecutive parts' ``summaries``: as many as fit in a prompt
        are combined at a time, until one is left (None: cancelled, failed, or a context
        too small to combine two)."""
        left: Sequence[str] | None = summaries
        while left is not None and len(left) > 1:
            room = prompt_room(n_ctx, combine_instruction(len(left)), length, self._count)
            groups = packed(left, room, lambda text: self._count(text) + NUMBER_TOKENS)
            if len(groups) == len(left):
                return None
            left = self._combined_groups(groups, length, cancel)
        return left[0] if left else None

    def _combined_groups(
        self, groups: Sequence[Sequence[str]], length: int, cancel: threading.Event
    ) -> list[str] | None:
        """One summary for each group of consecutive parts' summaries (None: cancelled
        or failed)."""
        combined: list[str] = []
        for group in groups:
            instruction = combine_instruction(len(group))
            text = (
                group[0]
                if len(group) == 1
                else self._write(instruction, numbered(group), cancel, length)
            )
            if text is None or cancel.is_set():
                return None
            combined.append(text)
        return combined

    def _merge(
        self,
        chat_id: int,
        path: Sequence[Message],
        first_in: int,
        settings: MemorySettings,
        n_ctx: int,
        cancel: threading.Event,
    ) -> bool:
        """Merge the oldest unpinned summaries while the story (pinned facts included) is
        over its budget; whether any merge was written."""
        budget = story_budget(n_ctx, settings)
        merged = False
        while not cancel.is_set():
            stored = self._store.summaries(chat_id)
            plan = coverage(path, first_in, settings.summary_block, stored)
            facts = sum(self._count(s.text) for s in stored if s.kind == "fact")
            pair = over_budget(plan.valid, budget - facts, self._count)
            if pair is None:
                return merged
            older, newer = pair
            texts = [older.text, newer.text]
            text = self._write(MERGE_INSTRUCTION, numbered(texts), cancel, summary_tokens(budget))
            if text is None or cancel.is_set():
                return merged
            ids = [*older.message_ids, *newer.message_ids]
            run = [m for m in path if m.id in set(ids)]
            self._store.add(
                chat_id, "summary", text, message_ids=ids, digest=block_digest(run),
                replaces=(older.id, newer.id, *replaced_by(run, stale_summaries(stored, path))),
            )  # fmt: skip
            merged = True
        return merged
