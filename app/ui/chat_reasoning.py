"""The chat page's reasoning edit panel.

A message's reasoning block has an edit control (``reasoning:ID``) that opens the
panel; saving an empty text, or "Delete reasoning", removes the block and keeps the
answer.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.chat.service import ChatService
from app.ui.chat_screen import ChatScreen, Updates
from app.ui.state import Selection


class ReasoningEditing:
    """Opens, saves and deletes one message's reasoning block."""

    def __init__(self, service: ChatService, screen: ChatScreen) -> None:
        self.service = service
        self.screen = screen
        self.parts = screen.parts

    def start(self, message_id: int) -> Updates:
        """Open the panel on the message's reasoning."""
        message = self.service.message(message_id)
        reasoning = message.extra.get("reasoning")
        ed = self.parts.editor
        return {
            self.parts.reasoning.group: gr.update(visible=True),
            self.parts.reasoning.box: reasoning if isinstance(reasoning, str) else "",
            ed.edit_group: gr.update(visible=False),
            ed.delete_group: gr.update(visible=False),
            self.parts.state.edit_target: message_id,
            **self.screen.status("Editing the reasoning: save it, or delete the block."),
        }

    def save(self, text: str, target: Any, sel: Selection) -> Updates:
        """Store the edited reasoning (an empty text deletes the block)."""
        return self._store(text, target, sel)

    def delete(self, target: Any, sel: Selection) -> Updates:
        """Remove the block; the answer stays."""
        return self._store("", target, sel)

    def cancel(self) -> Updates:
        """Close the panel."""
        return {
            self.parts.reasoning.group: gr.update(visible=False),
            self.parts.state.edit_target: None,
            **self.screen.status(""),
        }

    def _store(self, text: str, target: Any, sel: Selection) -> Updates:
        if not isinstance(target, int):
            return self.screen.show(sel, sel)
        message = self.service.set_reasoning(target, text)
        done = "Reasoning saved." if text.strip() else "Reasoning deleted."
        return self.screen.show(Selection(None, message.chat_id), sel, status=done)
