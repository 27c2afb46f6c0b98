"""Idle prefill: KV slots brought up to date while the user reads and types.

A chat's next prompt is mostly known before the user's next message.  Two things change
it between turns, and each would otherwise be evaluated at the start of the next reply:

* in a group, the other members' replies since a member's last turn (each member's slot
  holds the chat as that member last saw it): after a round, each unmuted member but
  the last speaker has its next prompt evaluated into its slot;
* with long-term memory, a summary written in the background after a reply changes the
  story so far near the top of the prompt, and a memories block whose place is about to
  leave the prompt moves down: the chat's slot (each member's, in a group) takes the
  new story or the moved block, the history around them shifted rather than evaluated.

The prompts are built with the memory the next reply most likely has (nothing recalled:
:meth:`~app.chat.turns.TurnRunner.build_ahead`) and evaluated with no reply, on
:class:`~app.chat.background.IdleJobs`' thread, once no summary is under way.  A reply
that starts meanwhile cancels the fill at once (the backend gives way, see
:mod:`app.engine.giving_way`).
"""

from __future__ import annotations

import threading

from app.chat.background import BackgroundWorker, IdleJobs
from app.chat.turns import TurnRunner
from app.errors import NotFound

#: Seconds a prefill waits, at most, for the summaries under way to be written.
SUMMARY_WAIT_S = 300.0


class IdlePrefill(BackgroundWorker):
    """Fills chats' KV slots ahead of their next turn, in the background."""

    def __init__(self, runner: TurnRunner, jobs: IdleJobs) -> None:
        super().__init__(jobs)
        self._runner = runner
        self._lock = threading.Lock()
        #: Tokens evaluated by prefills so far (benchmarks and tests count them).
        self.evaluated = 0

    def schedule_members(self, chat_id: int, last_speaker: int | None) -> None:
        """After a round of group chat ``chat_id``: fill every other unmuted member's slot."""
        self._jobs.schedule(chat_id, lambda cancel: self._fill(chat_id, last_speaker, cancel))

    def prompt_changed(self, chat_id: int) -> None:
        """``chat_id``'s next prompt changed before its turn (a new story so far, a
        memories block moving): fill its slot (each unmuted member's, in a group)."""
        self._jobs.schedule(chat_id, lambda cancel: self._fill(chat_id, None, cancel))

    def _fill(self, chat_id: int, skip: int | None, cancel: threading.Event) -> None:
        """Fill the slots of ``chat_id``'s unmuted members but ``skip`` (its character's,
        in a one-to-one chat)."""
        stores, memory = self._runner.stores, self._runner.memory
        if memory is not None and memory.summaries is not None:
            memory.summaries.wait_idle(SUMMARY_WAIT_S)
        if cancel.is_set() or self._runner.busy():
            return
        group = stores.groups.of_chat(chat_id)
        speakers = [None] if group is None else [m for m in group.unmuted_ids if m != skip]
        try:
            chat = stores.chats.get_chat(chat_id)
        except NotFound:  # deleted since the reply this fill follows
            return
        path = stores.chats.active_path(chat_id)
        for speaker in speakers:
            context = self._runner.context(chat, path, "normal", speaker_id=speaker)
            evaluated = self._runner.prefill(context, cancel)
            if evaluated is None or cancel.is_set():
                return
            with self._lock:
                self.evaluated += evaluated
