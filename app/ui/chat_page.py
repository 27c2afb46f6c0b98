"""The chat page: the conversation, a message box, Send and Stop.

Per-browser state lives in ``gr.State``; handlers only call the chat service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from app.chat.service import ChatService, ReplyProgress, Speaker
from app.errors import ParlorError
from app.prompt.gguf_template import ChatTurn

History = list[dict[str, str]]


class ChatPage:
    """Components and event wiring of the chat page."""

    def __init__(self, chat: ChatService, speaker: Speaker) -> None:
        self._chat = chat
        self._speaker = speaker

    def render(self) -> None:
        """Create the components inside the current ``gr.Blocks``."""
        greeting = [_message("assistant", self._speaker.greeting)] if self._speaker.greeting else []
        self.history = gr.State(greeting)
        self.chatbot = gr.Chatbot(
            value=greeting,  # type: ignore[arg-type]
            label=self._speaker.name,
            height=520,
            elem_id="parlor-chat",
            sanitize_html=True,
            feedback_options=None,
            group_consecutive_messages=False,
        )
        with gr.Row():
            self.message = gr.Textbox(
                placeholder="Message (Enter sends, Shift+Enter for a new line)",
                show_label=False,
                lines=1,
                max_lines=10,
                scale=8,
                elem_id="parlor-input",
            )
            self.send = gr.Button("Send", variant="primary", scale=1, elem_id="parlor-send")
            self.stop = gr.Button("Stop", variant="stop", scale=1, elem_id="parlor-stop")
        self.status = gr.Markdown("", elem_id="parlor-status")
        self._setup_events()

    def _setup_events(self) -> None:
        reply_kwargs: dict[str, Any] = {
            "fn": self.respond,
            "inputs": [self.message, self.history],
            "outputs": [self.chatbot, self.history, self.message, self.status],
            "concurrency_limit": 1,
            "concurrency_id": "generation",
        }
        self.message.submit(**reply_kwargs)
        self.send.click(**reply_kwargs)
        self.stop.click(self.stop_reply, None, None, queue=False)

    def respond(self, text: str, history: History) -> Iterator[tuple[History, History, str, str]]:
        """Stream the reply to ``text`` into the conversation."""
        text = text.strip()
        if not text:
            yield history, history, "", ""
            return
        turns = [ChatTurn(m["role"], m["content"]) for m in history]
        shown = [*history, _message("user", text)]
        yield [*shown, _message("assistant", "")], history, "", "Generating…"
        progress = ReplyProgress("")
        try:
            for progress in self._chat.reply(self._speaker, turns, text):
                yield [*shown, _message("assistant", progress.text)], history, "", "Generating…"
        except ParlorError as exc:
            yield shown, shown, "", f"**Error:** {exc}"
            return
        final = [*shown, _message("assistant", progress.text)]
        yield final, final, "", _status_line(progress)

    def stop_reply(self) -> None:
        """Stop button and Esc: end the reply, keeping its text."""
        self._chat.stop()


def _message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _status_line(progress: ReplyProgress) -> str:
    stats = progress.stats
    if stats is None:
        return ""
    state = "stopped" if progress.finish_reason == "aborted" else "complete"
    return (
        f"{stats.completion_tokens} tokens, {stats.decode_tokens_per_second:.1f} tokens/s, "
        f"prompt {stats.prompt_tokens} ({stats.tokens_reused} reused), seed {stats.seed}, {state}"
    )
