"""The reasoning block on the chat page: its markup, streaming, editing, the show switch.

Handlers run on the scripted backend through the page's error boundary; the browser
test (``test_browser_reasoning.py``) shows the same block in Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from app.chat.thinking import Thought
from app.chat.turns import Progress
from app.context import AppContext
from app.storage.types import GenInfo
from app.ui.app import UiBundle
from app.ui.chat_stream import summary_line
from app.ui.render import ChatHtml, ChatNames, MarkdownRenderer, thought_title
from app.ui.state import Selection
from tests.chat.test_reasoning_templates import PONDER
from tests.ui.conftest import SlowBackend
from tests.ui.test_chat_handlers import click, guarded, last_sel, open_first, send
from tests.ui.test_pages import _NoProgress

NAMES = ChatNames("Hesper", "User")
html = ChatHtml(MarkdownRenderer())


def test_the_live_block_is_open_while_thinking_and_closed_once_the_answer_starts() -> None:
    thinking = html.live(NAMES, "", thought=Thought("Weighing *it*", True, None))
    assert '<details class="msg-reasoning" open>' in thinking
    assert "Thinking…" in thinking and "<em>it</em>" in thinking
    answering = html.live(NAMES, "Hello!", thought=Thought("Weighing it", False, 3240))
    assert '<details class="msg-reasoning">' in answering and " open" not in answering
    assert "Thought for 3.2 s" in answering
    assert answering.index("msg-reasoning") < answering.index("Hello!")  # above the reply
    assert "msg-reasoning" not in html.live(NAMES, "Hello!", thought=None)  # hidden


def test_the_block_titles_and_sanitizes_its_text() -> None:
    assert thought_title(3240) == "Thought for 3.2 s"
    assert thought_title(75_400) == "Thought for 1 min 15 s"
    assert thought_title(None) == "Thought for some time"
    block = html.thought(Thought('<script>x()</script><img src=x onerror="y()">', False, 10),
                         NAMES, live=False)  # fmt: skip
    assert "<script" not in block and "onerror" not in block
    assert 'data-act="reasoning"' in block and " open" not in block


def chat_with_reply(page: Any, context: AppContext, backend: SlowBackend, reply: str) -> Selection:
    """A starter character's chat in which "Hello?" got ``reply``."""
    sel = open_first(page, context)
    backend.enqueue([reply])
    return last_sel(send(page, "Hello?", sel), page, sel)


def save_settings(page: Any, sel: Selection, *reasoning: object) -> dict[Any, Any]:
    """The chat settings saved with a default note, preset, format, persona and these
    reasoning fields (show, format, model's format, thinking, budget, add to prompts)."""
    note = ["", 4, 1, "in_chat", "system", "(auto)", "(auto)", 0]
    result: dict[Any, Any] = guarded(page, page.nav.save_settings)(*note, *reasoning, sel)
    return result


def pane(updates: dict[Any, Any], page: Any) -> str:
    return str(updates[page.parts.conversation.chat_html])


def test_a_streamed_reply_shows_the_block_open_then_stores_it_closed(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context)
    backend.enqueue(["<think>\nThe keeper", " seems tired.", "\n</think>\n\n", "Sit down."])
    steps = send(page, "Hello?", sel)
    live = [str(s[page.parts.conversation.live_html]) for s in steps
            if page.parts.conversation.live_html in s]  # fmt: skip
    first_reply = next(text for text in live if "msg-streaming" in text and "keeper" in text)
    assert '<details class="msg-reasoning" open>' in first_reply and "Thinking…" in first_reply
    final = pane(steps[-1], page)
    assert '<details class="msg-reasoning">' in final and "Thought for" in final
    assert "The keeper seems tired." in final and "Sit down." in final
    assert "&lt;think" not in final and "</think>" not in final


def test_the_reasoning_is_edited_and_deleted_from_its_block(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = chat_with_reply(page, context, backend, "<think>Draft thought.</think>The answer.")
    assert sel.chat_id is not None
    reply = context.chat.view(sel.chat_id).messages[-1].message
    opened = click(page, sel, f"reasoning:{reply.id}")[-1]
    panel = page.parts.reasoning
    assert opened[panel.group] == gr.update(visible=True)
    assert opened[panel.box] == "Draft thought."
    target = opened[page.parts.state.edit_target]
    saved = guarded(page, page.stream.reasoning.save)("A better thought.", target, sel)
    assert "A better thought." in pane(saved, page) and "Reasoning saved." in str(saved)
    deleted = guarded(page, page.stream.reasoning.delete)(target, sel)
    assert "msg-reasoning" not in pane(deleted, page)
    assert "The answer." in pane(deleted, page)
    assert context.chat.message(reply.id).content == "The answer."


def test_the_chat_level_switch_hides_and_shows_reasoning(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = chat_with_reply(page, context, backend, "<think>Secret plan.</think>Hi.")
    hidden = save_settings(page, sel, False, "(auto)", "(auto)", "auto", None, 0)
    assert "Secret plan." not in pane(hidden, page) and "Hi." in pane(hidden, page)
    assert hidden[page.parts.settings.reasoning.show] is False
    sel = hidden[page.selection]  # what the browser now shows
    shown = save_settings(page, sel, True, "Think XML", "(auto)", "on", 64, 2)
    assert "Secret plan." in pane(shown, page)
    assert sel.chat_id is not None
    stored = context.chat.chat(sel.chat_id).settings.reasoning
    assert (stored.template, stored.thinking, stored.budget, stored.add_to_prompts) == (
        "Think XML", "on", 64, 2
    )  # fmt: skip


def test_the_model_template_is_saved_for_the_loaded_model(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context)
    updates = save_settings(page, sel, True, "(auto)", "gpt-oss", "auto", None, 0)
    model = context.chat.setting_choices().model_reasoning
    assert model is not None and model.chosen == "gpt-oss"
    field = updates[page.parts.settings.reasoning.model_template]
    assert field["value"] == "gpt-oss"
    assert ("Detected: DeepSeek", "(auto)") in field["choices"]


def test_a_reply_stopped_while_thinking_is_not_reported_as_empty() -> None:
    stopped = Progress("", True, "aborted", GenInfo(stopped=True), thought=Thought("Hm", True, 5))
    assert "stopped" in summary_line(stopped) and "before any text" not in summary_line(stopped)
    assert summary_line(Progress("", True, "aborted")).startswith("Stopped before any text")


def test_an_empty_reply_is_reported_as_not_kept() -> None:
    # SmolLM2 may end at once, or think in whitespace only: the service keeps no message
    empty = Progress(" \n", True, "stop", GenInfo(completion_tokens=3, seed=7))
    assert summary_line(empty).startswith("The model's reply was empty (3 tokens, seed 7)")
    assert "complete" not in summary_line(empty)


def test_an_imported_template_is_offered_for_the_chat_and_the_model(
    ui: UiBundle, context: AppContext, backend: SlowBackend, tmp_path: Path
) -> None:
    path = tmp_path / "Ponder.json"
    path.write_text(json.dumps(PONDER), "utf-8")
    presets = ui.pages.presets
    done = presets.import_files([str(path)], None, None, progress=_NoProgress())
    assert "✓ Ponder.json: imported reasoning template Ponder" in done[presets.st_import.report]
    page = ui.pages.chat
    sel = open_first(page, context)
    updates = save_settings(page, sel, True, "Ponder", "Ponder", "auto", None, 0)
    fields = page.parts.settings.reasoning
    for field in (fields.template, fields.model_template):
        assert ("Ponder", "Ponder") in updates[field]["choices"]
        assert updates[field]["value"] == "Ponder"
    (context.settings.data_dir / "reasoning" / "Ponder.json").unlink()
    shown = guarded(page, page.nav.pick_character)(sel.character_id, sel)
    status = str(shown[page.parts.conversation.status])
    assert "Reasoning format “Ponder” no longer exists: using the model" in status
    assert shown[fields.template]["value"] == "(auto)"
    assert shown[fields.template]["choices"][0] == ("As the model's: DeepSeek", "(auto)")
