"""Chat-page handlers that generate or change messages: send, swipe, edit, branch, stop.

While a reply streams only the live pane under the chat changes (at most
:data:`MAX_UPDATES_PER_SECOND` times a second); the chat pane is rendered once, when the
reply is stored.  A message being replaced (regenerate, swipe, continue) is hidden by a
style rule inside the live pane, so starting a reply does not resend a long chat either.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gradio as gr

from app.chat.turns import Progress
from app.errors import ParlorError
from app.storage.types import Message, Role
from app.ui.chat_base import ChatBase, Updates
from app.ui.render import EARLIER_STEP, ChatNames, status_html
from app.ui.state import Selection

MAX_UPDATES_PER_SECOND = 15
_MIN_INTERVAL = 1.0 / MAX_UPDATES_PER_SECOND


@dataclass(frozen=True)
class Action:
    """A per-message control the chat pane reported: ``kind:message_id[:direction]``."""

    kind: str
    message_id: int
    direction: int = 0

    @classmethod
    def parse(cls, text: object) -> Action | None:
        """Read ``swipe:12:-1``, ``edit:12``, ``delete:12``, ``branch:12`` or ``earlier:0``."""
        parts = str(text or "").split(":")
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        kind = parts[0]
        if kind == "swipe" and len(parts) == 3 and parts[2] in ("1", "+1", "-1"):
            return cls(kind, int(parts[1]), -1 if parts[2] == "-1" else 1)
        if kind in ("edit", "delete", "branch", "earlier") and len(parts) == 2:
            return cls(kind, int(parts[1]))
        return None


@dataclass(frozen=True)
class Typed:
    """What the user sent, and when (to tell whether an error kept it from being stored)."""

    text: str
    at: datetime


def summary_line(progress: Progress) -> str:
    """How the reply went, for the status line."""
    info = progress.gen_info
    if progress.finish_reason == "aborted" and not progress.text.strip():
        return "Stopped before any text was written."
    if info is None:
        return "Done."
    speed = info.timings.get("tokens_per_s", 0.0) if info.timings else 0.0
    state = "stopped" if info.stopped else "complete"
    return (
        f"{info.completion_tokens or 0} tokens, {float(speed):.1f} tokens/s, "
        f"prompt {info.prompt_tokens or 0} ({info.tokens_reused or 0} reused), "
        f"seed {info.seed}, {state}"
    )


def _action(evt: gr.EventData) -> Action | None:
    data = getattr(evt, "_data", None)
    return Action.parse(data.get("action") if isinstance(data, dict) else None)


def _hide_from(message_id: int) -> str:
    """A style rule hiding one message of the chat pane and everything after it."""
    target = f'#parlor-chat .msg[data-message-id="{int(message_id)}"]'
    return f"<style>{target}, {target} ~ .msg {{ display: none; }}</style>"


class ChatStreaming(ChatBase):
    """Generation and message edits; these run one at a time (one llama.cpp context)."""

    # -- generation ----------------------------------------------------------------------

    def send(self, text: str, sel: Selection) -> Iterator[Updates]:
        """Store the user's message and stream the reply."""
        if sel.chat_id is None:
            yield {self.status: status_html("Start a chat first.", error=True)}
            return
        try:
            names = self.reader.names(self.context.stores.chats.get_chat(sel.chat_id))
        except ParlorError as exc:
            yield self.error(exc)
            return
        shown = text if text.strip() else None
        yield {
            self.input_box: "",
            self.live_html: self.html.live(names, "", user_text=shown, label="thinking…"),
            self.status: status_html("Generating…"),
        }
        progress = self.service.send(sel.chat_id, text)
        typed = Typed(text, datetime.now(UTC))
        yield from self._stream(progress, sel, names, user_text=shown, typed=typed)

    def regenerate(self, sel: Selection) -> Iterator[Updates]:
        """A new alternative for the last reply (the old one stays as a swipe)."""
        if sel.chat_id is None:
            return
        try:
            last, names = self._last_message(sel.chat_id)
        except ParlorError as exc:
            yield self.error(exc)
            return
        hide = last.id if last is not None and last.role != Role.USER else None
        yield from self._stream(self.service.regenerate(sel.chat_id), sel, names, hide=hide)

    def continue_reply(self, sel: Selection) -> Iterator[Updates]:
        """Make the last reply longer."""
        if sel.chat_id is None:
            return
        try:
            last, names = self._last_message(sel.chat_id)
        except ParlorError as exc:
            yield self.error(exc)
            return
        if last is None or last.role == Role.USER:
            yield {self.status: status_html("There is no reply to continue.", error=True)}
            return
        yield from self._stream(
            self.service.continue_reply(sel.chat_id), sel, names, hide=last.id, start=last.content
        )

    def _last_message(self, chat_id: int) -> tuple[Message | None, ChatNames]:
        """The chat's last shown message (None in an empty chat) and its names."""
        view = self.service.view(chat_id)
        last = view.messages[-1].message if view.messages else None
        return last, self.reader.names(view.chat)

    def impersonate(self, sel: Selection) -> Iterator[Updates]:
        """Write the user's next message into the input box (nothing is stored)."""
        if sel.chat_id is None:
            return
        yield {self.status: status_html("Writing your next message…")}
        last_push = 0.0
        try:
            for progress in self.service.impersonate(sel.chat_id):
                now = time.monotonic()
                if progress.done:
                    yield {self.input_box: progress.text, self.status: status_html("")}
                elif now - last_push >= _MIN_INTERVAL:
                    last_push = now
                    yield {self.input_box: progress.text}
        except ParlorError as exc:
            yield self.error(exc)

    def stop(self) -> None:
        """Stop button and Esc: end the reply; its text so far is kept."""
        self.service.stop()

    def _stream(
        self,
        progress: Iterator[Progress],
        sel: Selection,
        names: ChatNames,
        *,
        user_text: str | None = None,
        hide: int | None = None,
        start: str = "",
        typed: Typed | None = None,
    ) -> Iterator[Updates]:
        """Show ``progress`` in the live pane, then the stored result in the chat pane.

        ``typed`` is the user's text: it goes back into the message box if an error
        stopped it from being stored.
        """
        prefix = _hide_from(hide) if hide is not None else ""
        if hide is not None:
            yield {self.live_html: prefix + self.html.live(names, start, label="thinking…")}
        last_push, final = 0.0, None
        try:
            for item in progress:
                if item.done:
                    final = item
                    break
                now = time.monotonic()
                if now - last_push < _MIN_INTERVAL:
                    continue
                last_push = now
                live = self.html.live(names, item.text, user_text=user_text, label="writing…")
                yield {self.live_html: prefix + live}
        except ParlorError as exc:
            updates = self.screen(sel, sel, status=str(exc), failed=True)
            if typed and typed.text.strip() and not self._stored_since(sel, typed.at):
                updates[self.input_box] = typed.text
            yield updates
            return
        except GeneratorExit:
            # The browser went away (closed or reloaded): stop as the Stop button would,
            # and let the service store the text written so far.
            self.service.stop()
            for _ in progress:
                pass
            raise
        status = summary_line(final) if final is not None else ""
        yield self.screen(sel, sel, status=status)

    def _stored_since(self, sel: Selection, moment: datetime) -> bool:
        """Whether the chat's last message is a user's message stored after ``moment``."""
        path = self.context.stores.chats.active_path(sel.chat_id) if sel.chat_id else []
        return bool(path) and path[-1].role == Role.USER and path[-1].created_at >= moment

    # -- per-message controls ----------------------------------------------------------

    def act(self, sel: Selection, evt: gr.EventData) -> Iterator[Updates]:
        """A click on a message's swipe, edit, delete or branch control."""
        action = _action(evt)
        if action is None or action.kind == "earlier":
            return
        try:
            if action.kind == "swipe":
                yield from self._swipe(action, sel)
            elif action.kind == "edit":
                yield self._start_edit(action.message_id)
            elif action.kind == "delete":
                yield self._ask_delete(action.message_id, sel)
            elif action.kind == "branch":
                chat = self.service.branch(action.message_id)
                yield self.screen(
                    Selection(None, chat.id), sel, status=f"Branched into “{chat.title}”."
                )
        except ParlorError as exc:
            yield self.error(exc)

    def show_earlier(self, sel: Selection, evt: gr.EventData) -> Updates:
        """ "Show earlier messages": put more of a long chat's history on screen."""
        action = _action(evt)
        if action is None or action.kind != "earlier":
            return {}
        try:
            return self.screen(sel, sel, earlier=EARLIER_STEP)
        except ParlorError as exc:
            return self.error(exc)

    def _swipe(self, action: Action, sel: Selection) -> Iterator[Updates]:
        message = self.context.stores.chats.get_message(action.message_id)
        names = self.reader.names(self.context.stores.chats.get_chat(message.chat_id))
        here = Selection(None, message.chat_id, shown=sel.shown)
        index, count = self.context.stores.chats.siblings(message.id)
        if 0 <= index + action.direction < count:
            for _ in self.service.swipe(message.id, action.direction):
                pass
            yield self.screen(here, sel)
            return
        if action.direction < 0 or message.role == Role.USER:
            return
        yield from self._stream(
            self.service.swipe(message.id, action.direction), here, names, hide=message.id
        )

    def _start_edit(self, message_id: int) -> Updates:
        message = self.context.stores.chats.get_message(message_id)
        return {
            self.edit_group: gr.update(visible=True),
            self.delete_group: gr.update(visible=False),
            self.edit_box: message.content,
            self.edit_target: message_id,
            self.status: status_html("Editing a message: save it in place or as a new swipe."),
        }

    def _ask_delete(self, message_id: int, sel: Selection) -> Updates:
        path = self.context.stores.chats.active_path(sel.chat_id) if sel.chat_id else []
        ids = [m.id for m in path]
        below = len(ids) - ids.index(message_id) - 1 if message_id in ids else 0
        tail = f" and the {below} shown below it" if below else ""
        return {
            self.delete_group: gr.update(visible=True),
            self.edit_group: gr.update(visible=False),
            self.delete_note: status_html(f"Delete this message{tail}? This cannot be undone."),
            self.edit_target: message_id,
        }

    def save_edit(self, text: str, target: Any, sel: Selection) -> Updates:
        """Replace the message's text."""
        return self._edit(text, target, sel, as_swipe=False)

    def save_edit_as_swipe(self, text: str, target: Any, sel: Selection) -> Updates:
        """Keep the old text and add the edited one as a new swipe."""
        return self._edit(text, target, sel, as_swipe=True)

    def _edit(self, text: str, target: Any, sel: Selection, *, as_swipe: bool) -> Updates:
        if not isinstance(target, int):
            return self.screen(sel, sel)
        try:
            message = self.service.edit(target, text, as_swipe=as_swipe)
        except ParlorError as exc:
            return self.error(exc)
        done = "Saved as a new swipe." if as_swipe else "Message saved."
        return self.screen(Selection(None, message.chat_id), sel, status=done)

    def confirm_delete(self, target: Any, sel: Selection) -> Updates:
        """Delete the message (and everything below it)."""
        if not isinstance(target, int):
            return self.screen(sel, sel)
        try:
            count = self.service.delete(target)
        except ParlorError as exc:
            return self.error(exc)
        noun = "message" if count == 1 else "messages"
        return self.screen(sel, sel, status=f"Deleted {count} {noun}.")

    def cancel(self, sel: Selection) -> Updates:
        """Close the edit or delete panel."""
        return {
            self.edit_group: gr.update(visible=False),
            self.delete_group: gr.update(visible=False),
            self.edit_target: None,
            self.status: status_html(""),
        }
