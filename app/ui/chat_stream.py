"""Chat-page handlers that generate or change messages: send, swipe, edit, branch, stop.

While a reply streams only the live pane under the chat changes (at most
:data:`MAX_UPDATES_PER_SECOND` times a second); the chat pane is rendered once, when the
reply is stored.  A message being replaced (regenerate, swipe, continue) is hidden by a
style rule inside the live pane, so starting a reply does not resend a long chat either.
While this page's reply is written, Send gives way to Stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import gradio as gr

from app.chat.service import ChatService
from app.chat.turns import Progress
from app.errors import InputError, ParlorError
from app.storage.types import Role
from app.ui.chat_reasoning import ReasoningEditing
from app.ui.chat_screen import ChatScreen, Updates
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
        """Read ``swipe:12:-1``, ``edit:12``, ``delete:12``, ``branch:12``, ``reasoning:12``
        or ``earlier:0``."""
        parts = str(text or "").split(":")
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        kind = parts[0]
        if kind == "swipe" and len(parts) == 3 and parts[2] in ("1", "+1", "-1"):
            return cls(kind, int(parts[1]), -1 if parts[2] == "-1" else 1)
        if kind in ("edit", "delete", "branch", "earlier", "reasoning") and len(parts) == 2:
            return cls(kind, int(parts[1]))
        return None


class Throttle:
    """Lets an update through at most once every ``interval`` seconds (the first at once)."""

    def __init__(
        self, interval: float = _MIN_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        """Whether an update may go out now (and if so, count it as sent)."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True


@dataclass(frozen=True)
class Typed:
    """What the user sent, and when (to tell whether an error kept it from being stored)."""

    text: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def summary_line(progress: Progress) -> str:
    """How the reply went, for the status line."""
    info = progress.gen_info
    if progress.finish_reason == "aborted" and not progress.written:
        return "Stopped before any text was written."
    if info is None:
        return "Done."
    if not progress.written:  # the service keeps no empty reply: say so, or the send seems lost
        return (
            f"The model's reply was empty ({info.completion_tokens or 0} tokens, seed "
            f"{info.seed}): nothing was kept. Send an empty message for another reply."
        )
    speed = info.timings.get("tokens_per_s", 0.0) if info.timings else 0.0
    state = "stopped" if info.stopped else "complete"
    return (
        f"{info.completion_tokens or 0} tokens, {float(speed):.1f} tokens/s, "
        f"prompt {info.prompt_tokens or 0} ({info.tokens_reused or 0} reused), "
        f"seed {info.seed}, {state}"
    )


def action_of(evt: gr.EventData) -> Action | None:
    """The message control a click on the chat pane hit (None: something else)."""
    data = getattr(evt, "_data", None)
    return Action.parse(data.get("action") if isinstance(data, dict) else None)


def _hide_from(message_id: int) -> str:
    """A style rule hiding one message of the chat pane and everything after it."""
    target = f'#parlor-chat .msg[data-message-id="{int(message_id)}"]'
    return f"<style>{target}, {target} ~ .msg {{ display: none; }}</style>"


class ChatStreaming:
    """Generation and message edits; these run one at a time (one llama.cpp context)."""

    def __init__(self, service: ChatService, screen: ChatScreen) -> None:
        self.service = service
        self.screen = screen
        self.parts = screen.parts
        self.reasoning = ReasoningEditing(service, screen)

    # -- buttons -------------------------------------------------------------------------

    def writing(self) -> Updates:
        """Send gives way to Stop while this page's reply is written."""
        conv = self.parts.conversation
        return {conv.send: gr.update(visible=False), conv.stop: gr.update(visible=True)}

    def idle(self) -> Updates:
        """Send is back once the reply is stored (or failed)."""
        conv = self.parts.conversation
        return {conv.send: gr.update(visible=True), conv.stop: gr.update(visible=False)}

    # -- sending ---------------------------------------------------------------------------

    def accept(self, text: str) -> Updates:
        """Take the typed text off the box at once (outside the queue) and say if it waits.

        The text travels on in the hidden ``pending`` box, so a message sent while another
        reply is being written is queued, not lost, and the box is free for the next one.
        """
        conv = self.parts.conversation
        updates: Updates = {conv.input_box: "", self.parts.state.pending: text}
        if self.service.busy():
            note = "Queued: your message is sent when the reply being written is done."
            updates[conv.status] = status_html(note)
        return updates

    def send(self, text: str, sel: Selection) -> Iterator[Updates]:
        """Store the user's message and stream the reply."""
        sel = self.screen.resolve(sel) if sel.chat_id is None else sel
        if sel.chat_id is None:
            raise InputError("chat", "import or create a character on the Characters tab first")
        view = self.service.view(sel.chat_id)
        names = self.screen.names(view)
        shown = text if text.strip() else None
        conv = self.parts.conversation
        yield {
            **self.writing(),
            conv.live_html: self.screen.html.live(names, "", user_text=shown, label="thinking…"),
            conv.status: status_html("Generating…"),
        }
        progress = self.service.send(sel.chat_id, text)
        yield from self._stream(progress, sel, names, user_text=shown, typed=Typed(text))

    def regenerate(self, sel: Selection) -> Iterator[Updates]:
        """A new alternative for the last reply (the old one stays as a swipe)."""
        if sel.chat_id is None:
            return
        view = self.service.view(sel.chat_id)
        last = view.messages[-1].message if view.messages else None
        hide = last.id if last is not None and last.role != Role.USER else None
        names = self.screen.names(view)
        yield self.writing()
        yield from self._stream(self.service.regenerate(sel.chat_id), sel, names, hide=hide)

    def continue_reply(self, sel: Selection) -> Iterator[Updates]:
        """Make the last reply longer."""
        if sel.chat_id is None:
            return
        view = self.service.view(sel.chat_id)
        last = view.messages[-1].message if view.messages else None
        reply = last if last is not None and last.role != Role.USER else None
        yield self.writing()
        progress = self.service.continue_reply(sel.chat_id)  # refuses when there is no reply
        yield from self._stream(
            progress, sel, self.screen.names(view),
            hide=reply.id if reply else None, start=reply.content if reply else "",
        )  # fmt: skip

    def impersonate(self, sel: Selection) -> Iterator[Updates]:
        """Write the user's next message into the input box (nothing is stored)."""
        if sel.chat_id is None:
            return
        conv = self.parts.conversation
        yield {**self.writing(), conv.status: status_html("Writing your next message…")}
        throttle = Throttle()
        for progress in self.service.impersonate(sel.chat_id):
            if progress.done:
                yield {**self.idle(), conv.input_box: progress.text, conv.status: ""}
            elif throttle.ready():
                yield {conv.input_box: progress.text}

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
        live_html = self.parts.conversation.live_html
        prefix = _hide_from(hide) if hide is not None else ""
        if hide is not None:
            yield {live_html: prefix + self.screen.html.live(names, start, label="thinking…")}
        show = sel.chat_id is None or self.service.chat(sel.chat_id).settings.reasoning.show
        throttle, final = Throttle(), None
        try:
            for item in progress:
                if item.done:
                    final = item
                    break
                if not throttle.ready():
                    continue
                label = "thinking…" if item.thought.thinking else "writing…"
                live = self.screen.html.live(
                    names, item.text, user_text=user_text, label=label,
                    thought=item.thought if show else None,
                )  # fmt: skip
                # Stop is shown again with every piece: the end of the reply before this
                # one (a queued send) may land after this reply's first update.
                yield {live_html: prefix + live, **self.writing()}
        except ParlorError as exc:
            updates = {**self.screen.show(sel, sel, status=str(exc), failed=True), **self.idle()}
            if typed and typed.text.strip() and not self._stored_since(sel, typed.at):
                updates[self.parts.conversation.input_box] = typed.text
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
        yield {**self.screen.show(sel, sel, status=status), **self.idle()}

    def _stored_since(self, sel: Selection, moment: datetime) -> bool:
        """Whether the chat's last message is a user's message stored after ``moment``."""
        if sel.chat_id is None:
            return False
        messages = self.service.view(sel.chat_id).messages
        last = messages[-1].message if messages else None
        return last is not None and last.role == Role.USER and last.created_at >= moment

    # -- per-message controls ----------------------------------------------------------

    def act(self, sel: Selection, evt: gr.EventData) -> Iterator[Updates]:
        """A click on a message's swipe, edit, delete or branch control."""
        action = action_of(evt)
        if action is None or action.kind == "earlier":
            yield {}
            return
        if action.kind == "swipe":
            yield from self._swipe(action, sel)
        elif action.kind == "edit":
            yield self._start_edit(action.message_id)
        elif action.kind == "delete":
            yield self._ask_delete(action.message_id, sel)
        elif action.kind == "reasoning":
            yield self.reasoning.start(action.message_id)
        elif action.kind == "branch":
            chat = self.service.branch(action.message_id)
            yield self.screen.show(
                Selection(None, chat.id), sel, status=f"Branched into “{chat.title}”."
            )

    def show_earlier(self, sel: Selection, evt: gr.EventData) -> Updates:
        """ "Show earlier messages": put more of a long chat's history on screen."""
        action = action_of(evt)
        if action is None or action.kind != "earlier":
            return {}
        return self.screen.show(sel, sel, earlier=EARLIER_STEP)

    def _swipe(self, action: Action, sel: Selection) -> Iterator[Updates]:
        result = self.service.swipe(action.message_id, action.direction)
        if result.shown is not None:
            here = Selection(None, result.shown.chat_id, shown=sel.shown)
            yield self.screen.show(here, sel)
        elif result.replies is not None:
            message = self.service.message(action.message_id)
            view = self.service.view(message.chat_id)
            here = Selection(None, message.chat_id, shown=sel.shown)
            yield self.writing()
            yield from self._stream(result.replies, here, self.screen.names(view), hide=message.id)
        else:
            yield {}

    def _start_edit(self, message_id: int) -> Updates:
        ed = self.parts.editor
        return {
            ed.edit_group: gr.update(visible=True),
            ed.delete_group: gr.update(visible=False),
            ed.edit_box: self.service.message(message_id).content,
            self.parts.reasoning.group: gr.update(visible=False),
            self.parts.state.edit_target: message_id,
            **self.screen.status("Editing a message: save it in place or as a new swipe."),
        }

    def _ask_delete(self, message_id: int, sel: Selection) -> Updates:
        view = self.service.view(sel.chat_id) if sel.chat_id else None
        ids = [item.message.id for item in view.messages] if view else []
        below = len(ids) - ids.index(message_id) - 1 if message_id in ids else 0
        tail = f" and the {below} shown below it" if below else ""
        ed = self.parts.editor
        return {
            ed.delete_group: gr.update(visible=True),
            ed.edit_group: gr.update(visible=False),
            ed.delete_note: status_html(f"Delete this message{tail}? This cannot be undone."),
            self.parts.reasoning.group: gr.update(visible=False),
            self.parts.state.edit_target: message_id,
        }

    def save_edit(self, text: str, target: Any, sel: Selection) -> Updates:
        """Replace the message's text."""
        return self._edit(text, target, sel, as_swipe=False)

    def save_edit_as_swipe(self, text: str, target: Any, sel: Selection) -> Updates:
        """Keep the old text and add the edited one as a new swipe."""
        return self._edit(text, target, sel, as_swipe=True)

    def _edit(self, text: str, target: Any, sel: Selection, *, as_swipe: bool) -> Updates:
        if not isinstance(target, int):
            return self.screen.show(sel, sel)
        message = self.service.edit(target, text, as_swipe=as_swipe)
        done = "Saved as a new swipe." if as_swipe else "Message saved."
        return self.screen.show(Selection(None, message.chat_id), sel, status=done)

    def confirm_delete(self, target: Any, sel: Selection) -> Updates:
        """Delete the message (and everything below it)."""
        if not isinstance(target, int):
            return self.screen.show(sel, sel)
        count = self.service.delete(target)
        noun = "message" if count == 1 else "messages"
        return self.screen.show(sel, sel, status=f"Deleted {count} {noun}.")

    def cancel(self) -> Updates:
        """Close the edit or delete panel."""
        ed = self.parts.editor
        return {
            ed.edit_group: gr.update(visible=False),
            ed.delete_group: gr.update(visible=False),
            self.parts.state.edit_target: None,
            **self.screen.status(""),
        }
