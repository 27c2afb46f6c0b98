"""Recall at each turn: chunks of messages that left the prompt, as a memories block.

The prompt is built once without memories; the messages it no longer holds are the ones
that can be recalled.  The last few messages form the query; the most similar chunks
above the chat's threshold, oldest first, are rendered through the chat's template and
the prompt is built again with them.  Only messages on the active path are searched, so
other swipes, deleted messages and edited-away text are never recalled.

A block stays where it was while it can, so the KV cache below it is reused: a chunk
that becomes much more relevant to the newest message takes the place of the block's
least relevant one, and only that chunk is evaluated.  The block is recalled afresh, at
the settings' depth, only when it must move (its anchor is about to leave the prompt)
or one of its messages changed; a move that is due is made ahead of the turn (see
:meth:`MemoryRecall.ahead`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from app.chat.memory.index import Hit, MemoryIndex
from app.chat.memory.summaries import SummaryWorker, TokenCounter, coverage, story_budget
from app.prompt.formats import PromptPosition, Role
from app.prompt.memory import MemoryPrompt, render_memories, render_story
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import BuiltPrompt
from app.prompt.worldinfo import WIEntry
from app.storage.memory_types import MemorySettings
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Message

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

_POSITIONS = {
    "in_chat": PromptPosition.IN_CHAT,
    "after_story": PromptPosition.IN_PROMPT,
    "before_prompt": PromptPosition.BEFORE_PROMPT,
}
_ROLES = {"system": Role.SYSTEM, "user": Role.USER, "assistant": Role.ASSISTANT}


#: How much more similar to the newest message a chunk found now must be than the best
#: chunk of the block in place to take the place of the block's least similar one.
FRESHER_BY = 0.1


@dataclass(frozen=True)
class Recalled:
    """What one turn recalled: the chunks (oldest first), the block they became, and the
    stored message the block sits just before in the chat (None: placed by the settings
    alone)."""

    hits: tuple[Hit, ...] = ()
    block: str = ""
    anchor: int | None = None

    def depth(self, history: Sequence[Message], default: int) -> int:
        """The block's depth in a chat of ``history``: before its anchor, else ``default``."""
        ids = [m.id for m in history]
        if self.anchor is None or self.anchor not in ids:
            return default
        return len(ids) - ids.index(self.anchor)


def first_in_prompt(prompt: BuiltPrompt, n_history: int) -> int:
    """The history index of the oldest message the prompt holds (``n_history``: none)."""
    indexes = [
        s.message_index
        for s in prompt.segments
        if s.kind == "message" and s.message_index is not None
    ]
    return min(indexes, default=n_history)


#: A reply's prompt at least this full (a share of the context), every message still in
#: it, has the chat made ready for recall after the reply (see ``prepare``): its first
#: overflowing turn then waits neither for torch to load nor for the chat's embedding.
#: (With memory on, the messages overflow at about three quarters: the story so far and
#: the memories block have their room.)
NEAR_FULL = 0.6
#: A chat of at least this many messages is made ready for recall when it is shown or
#: imported (a shorter one fits in most contexts: it is embedded when its first message
#: leaves the prompt, so opening or importing it never loads torch).
LONG_CHAT = 40


class MemoryRecall:
    """Recalls memories for a chat's prompts and remembers what each chat last recalled."""

    def __init__(
        self,
        index: MemoryIndex,
        repository: MemoryRepository,
        sandbox: TemplateSandbox,
        summaries: SummaryWorker | None = None,
    ) -> None:
        self.index = index
        #: Writes summaries in the background (None: no summaries).
        self.summaries = summaries
        self._repository = repository
        self._sandbox = sandbox
        self._last: dict[int, Recalled] = {}
        #: Per chat: its last recall before the reply now being built (a second recall
        #: of one turn keeps that block where it can, not the first recall's).
        self._before_turn: dict[int, Recalled | None] = {}
        #: Per chat: the story so far of its last reply's prompt.
        self._stories: dict[int, str] = {}
        #: Per chat: where its last reply's prompt began, and the context size.
        self._windows: dict[int, tuple[int, int]] = {}
        #: Per chat: the history of a reply's prompt that nearly filled the context
        #: with every message still in it (made ready for recall after the reply).
        self._filling: dict[int, list[Message]] = {}
        #: Chats whose block is about to move down (see :func:`_moves_soon`).
        self._moving: set[int] = set()
        #: Told a chat's id after a reply whose block is about to move: the composition
        #: root fills the chat's KV slot with the moved block (:meth:`ahead`) then.
        self.on_block_moving: Callable[[int], None] | None = None
        self._lock = threading.Lock()

    def settings(self, chat_id: int) -> MemorySettings:
        """The chat's memory settings (an unsaved chat's: off)."""
        if chat_id <= 0:
            return MemorySettings(enabled=False)
        return self._repository.settings(chat_id)

    def recall(
        self,
        chat_id: int,
        history: Sequence[Message],
        prompt: BuiltPrompt,
        *,
        n_ctx: int,
        record: bool,
        count: TokenCounter,
        again: bool = False,
    ) -> MemoryPrompt | None:
        """The story so far and the memories block for a prompt of ``history`` (None:
        nothing to add).

        Nothing is embedded or loaded while every message is still in the prompt.
        ``record``: a reply's prompt; what it recalled is the chat's last recall, and
        the messages before it are summarized after the reply.  ``again``: the same
        turn's second recall, from the prompt its first one made (the last reply's
        block is still the one to keep where it can).
        """
        settings = self.settings(chat_id)
        if not settings.enabled:
            return None
        first = first_in_prompt(prompt, len(history))
        if record and not again:
            with self._lock:
                self._before_turn[chat_id] = self._last.get(chat_id)
        if record:
            filling = first <= 0 and prompt.n_tokens >= NEAR_FULL * n_ctx
            with self._lock:
                self._windows[chat_id] = (first, n_ctx)
                if filling:
                    self._filling[chat_id] = list(history)
        story = self.story(chat_id, history, first, settings, n_ctx, count)
        recalled = self._recalled(chat_id, history, first, settings, record=record, again=again)
        if record:
            moving = _moves_soon(recalled, history, first, settings, count)
            with self._lock:
                self._stories[chat_id] = story
                (self._moving.add if moving else self._moving.discard)(chat_id)
        return _prompt(settings, recalled, story, history)

    def index_early(self, chat_id: int, history: Sequence[Message]) -> threading.Thread:
        """Start embedding what the index lacks of ``history`` (a turn's new message) on a
        thread of its own, while the turn's prompt is built; join the thread returned
        once the prompt is.  The turn's recall finds the message embedded, or waits for
        it (the index is locked while it embeds); should it fail, the recall embeds
        again and reports what fails."""
        thread = threading.Thread(
            target=self._index_quietly, args=(chat_id, list(history)),
            name="parlor-recall-index", daemon=True,
        )  # fmt: skip
        thread.start()
        return thread

    def _index_quietly(self, chat_id: int, history: list[Message]) -> None:
        with contextlib.suppress(Exception):  # the recall's own update reports it
            self.index.update(chat_id, history)

    def expected(self, chat_id: int, history: Sequence[Message]) -> MemoryPrompt | None:
        """What the chat's next prompt most likely adds, for a prompt of ``history``: the
        last reply's story and block, where it was (None: nothing known, or memory is
        off).  A prompt built with it first is built once when recall agrees."""
        with self._lock:
            recalled, story = self._last.get(chat_id), self._stories.get(chat_id)
        settings = self.settings(chat_id)
        if recalled is None or story is None or not settings.enabled:
            return None
        return _prompt(settings, recalled, story, history)

    def ahead(
        self,
        chat_id: int,
        history: Sequence[Message],
        prompt: BuiltPrompt,
        *,
        n_ctx: int,
        count: TokenCounter,
    ) -> MemoryPrompt | None:
        """The memory of the chat's next prompt as far as it is known before the next
        message (a KV slot filled ahead of the turn): the last reply's block, and the
        story as it stands now (summaries written since included).  Nothing is recalled.

        The block stays where it was, unless its anchor is about to leave the prompt: it
        then moves to where the next turn would put a new block, and that is recorded
        as the chat's last recall, so the next turn keeps it there.
        """
        settings = self.settings(chat_id)
        with self._lock:
            recalled = self._last.get(chat_id)
        if recalled is None or not settings.enabled:
            return None
        first = first_in_prompt(prompt, len(history))
        if _moves_soon(recalled, history, first, settings, count):
            recalled = self._moved_ahead(chat_id, recalled, history, settings)
        story = self.story(chat_id, history, first, settings, n_ctx, count)
        return _prompt(settings, recalled, story, history)

    def story(
        self,
        chat_id: int,
        history: Sequence[Message],
        first: int,
        settings: MemorySettings,
        n_ctx: int,
        count: TokenCounter,
    ) -> str:
        """The story so far: the pinned facts, the valid summaries of what left the
        prompt that are pinned, and the newest unpinned ones that fit in what is left of
        the chat's share of the context (always the newest summary, even one over it:
        the history then gives way)."""
        stored = self._repository.summaries(chat_id)
        facts = [s.text for s in stored if s.kind == "fact"]
        plan = coverage(history, first, settings.summary_block, stored)
        pinned = [s.text for s in plan.valid if s.pinned]
        budget = story_budget(n_ctx, settings) - sum(count(t) for t in [*facts, *pinned])
        kept = {s.id for s in plan.valid if s.pinned}
        for summary in reversed([s for s in plan.valid if not s.pinned]):
            budget -= count(summary.text)
            if budget < 0 and summary is not plan.valid[-1]:
                break
            kept.add(summary.id)
        return render_story(self._sandbox, [s.text for s in plan.valid if s.id in kept], facts)

    def vector_lore(
        self, chat_id: int, history: Sequence[Message], lore: Sequence[WIEntry]
    ) -> list[WIEntry] | None:
        """``lore`` with the vectorized entries most similar to the last messages made
        constant for this prompt (None: no vectorized entry, or memory is off)."""
        settings = self.settings(chat_id)
        candidates = [e for e in lore if e.vectorized and e.enabled and not e.constant]
        if not settings.enabled or not candidates or not history:
            return None
        recent = list(reversed(history[-settings.query_messages :]))
        chosen = self.index.similar_texts(
            [e.content for e in candidates], self.index.query_vectors(chat_id, recent),
            limit=settings.max_chunks, threshold=settings.threshold,
        )  # fmt: skip
        active = {id(candidates[i]) for i in chosen}
        return [replace(e, constant=True) if id(e) in active else e for e in lore]

    def after_reply(self, chat_id: int) -> None:
        """Summarize, in the background, what left the chat's last reply's prompt; have
        a block about to move moved ahead of the next turn."""
        with self._lock:
            window = self._windows.get(chat_id)
            moving = chat_id in self._moving
            filling = self._filling.pop(chat_id, None)
        if self.summaries is not None and window is not None:
            self.summaries.schedule(chat_id, *window)
        if filling is not None:  # the first message leaves soon: recall must not wait
            self._get_ready(chat_id, filling)
        if moving and self.on_block_moving is not None:
            self.on_block_moving(chat_id)

    def prepare(self, chat_id: int, history: Sequence[Message]) -> None:
        """A chat is shown: if its memory is on and it is long (:data:`LONG_CHAT`
        messages), load the embedder and embed what its index lacks in the background,
        giving way to any reply, so that its next turn waits for neither (torch loads
        in seconds; a chat stored before memory was on embeds at ~200 messages/s)."""
        if self.summaries is None or chat_id <= 0 or len(history) < LONG_CHAT:
            return
        if not self.settings(chat_id).enabled:
            return
        self._get_ready(chat_id, list(history))

    def _get_ready(self, chat_id: int, messages: list[Message]) -> None:
        """Load the embedder and embed ``messages`` in the background (see :meth:`prepare`)."""
        if self.summaries is not None:
            self.summaries.run_idle(
                ("prepare", chat_id), lambda cancel: self.index.warm(chat_id, messages, cancel)
            )

    def before_reply(self) -> None:
        """A reply is starting: a summary under way gives way."""
        if self.summaries is not None:
            self.summaries.pause()

    def _recalled(
        self,
        chat_id: int,
        history: Sequence[Message],
        first: int,
        settings: MemorySettings,
        *,
        record: bool,
        again: bool = False,
    ) -> Recalled:
        """This turn's block: the last one, where it was, with any much fresher chunks
        in the places of its least relevant ones (so the cache below it is reused), else
        the chunks recalled now, at the settings' depth."""
        if first <= 0:
            return Recalled()
        self.index.update(chat_id, history)
        recent = list(reversed(history[-settings.query_messages :]))
        query = self.index.query_vectors(chat_id, recent)
        eligible = [m.id for m in history[:first]]
        hits = self.index.search(
            chat_id, query, eligible, limit=settings.max_chunks, threshold=settings.threshold
        )
        with self._lock:
            turns = self._before_turn if again and record else self._last
            previous = turns.get(chat_id)
        order = {message_id: i for i, message_id in enumerate(eligible)}
        recalled = self._kept(chat_id, previous, history, first, hits, query, settings, order)
        if recalled is None:
            recalled = Recalled(_oldest_first(hits, order), "", _anchor(history, settings))
        recalled = replace(recalled, block=self._block(settings, recalled.hits))
        if record:
            with self._lock:
                self._last[chat_id] = recalled
        return recalled

    def _kept(
        self,
        chat_id: int,
        previous: Recalled | None,
        history: Sequence[Message],
        first: int,
        hits: Sequence[Hit],
        query: NDArray[np.float32],
        settings: MemorySettings,
        order: Mapping[int, int],
    ) -> Recalled | None:
        """The last block, if it can stay: its messages are all still out of the prompt
        and on the active path, unchanged, and its anchor is still well inside the
        prompt.  Chunks found now that are more than :data:`FRESHER_BY` more similar to
        the newest message than its best take the places of its least similar ones."""
        if previous is None or not previous.hits:
            return None
        out_of_prompt = {m.id for m in history[:first]}
        if any(h.message_id not in out_of_prompt for h in previous.hits):
            return None
        if settings.position == "in_chat" and not _anchor_inside(previous, history, first):
            return None
        newest = query[:1]  # the newest message decides
        rescored = self.index.rescored(chat_id, previous.hits, newest)
        if rescored is None:
            return None
        found = self.index.rescored(chat_id, hits, newest) or []
        best_kept = max(h.score for h in rescored)
        fresher = [h for h in found if h.score > best_kept + FRESHER_BY]
        hits_now = _swapped_in(rescored, fresher, settings.max_chunks)
        return replace(previous, hits=_oldest_first(hits_now, order))

    def _moved_ahead(
        self,
        chat_id: int,
        recalled: Recalled,
        history: Sequence[Message],
        settings: MemorySettings,
    ) -> Recalled:
        """``recalled``, moved before the message the next turn's new block would go
        before, if it is still the chat's last recall (which it then replaces)."""
        anchor = _anchor(history, settings, coming=1)
        if anchor is None:
            return recalled
        moved = replace(recalled, anchor=anchor)
        with self._lock:
            if self._last.get(chat_id) is not recalled:  # a turn recalled meanwhile
                return recalled
            self._last[chat_id] = moved
        return moved

    def _block(self, settings: MemorySettings, hits: Sequence[Hit]) -> str:
        return render_memories(self._sandbox, settings.template, [h.text for h in hits])

    def last(self, chat_id: int) -> Recalled:
        """What the chat's last reply's prompt recalled."""
        with self._lock:
            return self._last.get(chat_id, Recalled())


def _swapped_in(kept: Sequence[Hit], fresher: Sequence[Hit], limit: int) -> list[Hit]:
    """``kept`` with ``fresher`` in the places of its least similar hits: at most
    ``limit`` in all, the fresher ones first (scores: similarity to the newest message)."""
    taken = sorted(fresher, key=lambda h: -h.score)[:limit]
    staying = sorted(kept, key=lambda h: -h.score)[: max(0, limit - len(taken))]
    return [*staying, *taken]


def _oldest_first(hits: Sequence[Hit], order: Mapping[int, int]) -> tuple[Hit, ...]:
    """``hits`` in chat order (``order``: each message's place in the history)."""
    return tuple(sorted(hits, key=lambda h: (order[h.message_id], h.chunk_index)))


def _anchor(history: Sequence[Message], settings: MemorySettings, coming: int = 0) -> int | None:
    """The stored message a new block goes just before, in a chat of ``history`` and
    ``coming`` messages more (None: not in the chat, at depth 0, or before a message not
    yet stored)."""
    depth = settings.depth - coming
    if settings.position != "in_chat" or not 0 < depth <= len(history):
        return None
    message = history[len(history) - depth]
    return message.id if message.id > 0 else None


def _moves_soon(
    recalled: Recalled,
    history: Sequence[Message],
    first: int,
    settings: MemorySettings,
    count: TokenCounter,
) -> bool:
    """Whether the block's anchor may no longer be well inside the prompt at the next
    turn (see :func:`_anchor_inside`): the next two messages, if as long as the last
    two, would push out the messages above it."""
    ids = [m.id for m in history]
    if settings.position != "in_chat" or not recalled.hits or recalled.anchor not in ids:
        return False
    above = history[first : ids.index(recalled.anchor) - 2]
    coming = sum(count(m.content) for m in history[-2:])
    return sum(count(m.content) for m in above) < coming


def _anchor_inside(recalled: Recalled, history: Sequence[Message], first: int) -> bool:
    """Whether the block's anchor is in the prompt, with a message or two to spare (an
    anchor about to leave it would take the block to the top of the chat)."""
    ids = [m.id for m in history]
    return recalled.anchor in ids and ids.index(recalled.anchor) >= first + 2


def _prompt(
    settings: MemorySettings, recalled: Recalled, story: str, history: Sequence[Message]
) -> MemoryPrompt | None:
    """The memory a prompt of ``history`` gets (None: nothing to add)."""
    if not story and not recalled.block:
        return None
    position, role = _POSITIONS[settings.position], _ROLES[settings.role]
    depth = recalled.depth(history, settings.depth)
    return MemoryPrompt(recalled.block, story, position, depth, role)
