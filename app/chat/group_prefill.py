"""Idle prefill: after a group reply, the waiting members' KV slots catch up.

Each member's slot holds the chat as that member last saw it; the messages since then
(the other members' replies) would be evaluated at the start of its next turn.  While
the user reads and types, nothing runs: once the round is over and no summary is under
way, each unmuted member but the last speaker has its next prompt evaluated into its
slot (no reply), on :class:`~app.chat.background.IdleJobs`' thread.  A reply that
starts meanwhile cancels it at once (the backend gives way, see
:mod:`app.engine.giving_way`), so the next member's turn evaluates little more than
the user's new message.
"""

from __future__ import annotations

import threading

from app.chat.background import BackgroundWorker, IdleJobs
from app.chat.turns import TurnRunner

#: Seconds a prefill waits, at most, for the summaries under way to be written.
SUMMARY_WAIT_S = 300.0


class MemberPrefill(BackgroundWorker):
    """Brings group members' KV slots up to date in the background."""

    def __init__(self, runner: TurnRunner, jobs: IdleJobs) -> None:
        super().__init__(jobs)
        self._runner = runner
        self._lock = threading.Lock()
        #: Tokens evaluated by prefills so far (benchmarks count them).
        self.evaluated = 0

    def schedule(self, chat_id: int, last_speaker: int | None) -> None:
        """After a round of ``chat_id``: fill every other unmuted member's slot."""
        self._jobs.schedule(chat_id, lambda cancel: self._fill(chat_id, last_speaker, cancel))

    def _fill(self, chat_id: int, last_speaker: int | None, cancel: threading.Event) -> None:
        stores, memory = self._runner.stores, self._runner.memory
        if memory is not None and memory.summaries is not None:
            memory.summaries.wait_idle(SUMMARY_WAIT_S)
        group = stores.groups.of_chat(chat_id)
        if group is None or cancel.is_set() or self._runner.busy():
            return
        chat = stores.chats.get_chat(chat_id)
        path = stores.chats.active_path(chat_id)
        for member in (m for m in group.unmuted_ids if m != last_speaker):
            context = self._runner.context(chat, path, "normal", speaker_id=member)
            evaluated = self._runner.prefill(context, cancel)
            if evaluated is None or cancel.is_set():
                return
            with self._lock:
                self.evaluated += evaluated
