"""The Memory panel's handlers, called through the page's error boundary on the scripted
backend: what Save stores, which values it refuses, and the summary editor's pin."""

from __future__ import annotations

from typing import Any

import pytest

from app.context import AppContext
from app.storage.memory_types import MemorySettings
from app.ui.app import UiBundle
from app.ui.boundary import BUG_MESSAGE
from app.ui.chat_page import ChatPage
from app.ui.state import Selection
from tests.ui.test_chat_handlers import guarded, open_first

Updates = dict[Any, Any]
#: Settings the panel must keep as they are when the user changes only the switch.
STORED = MemorySettings(
    enabled=True,
    position="after_story",
    depth=7,
    role="user",
    template="{{ memories | join(' / ') }}",
    max_chunks=9,
    threshold=0.4,
    query_messages=4,
    summary_block=8,
    summary_share=0.12345,
)


def shown_values(page: ChatPage, sel: Selection) -> list[Any]:
    """What the panel's settings fields hold once the chat is shown, in Save's order."""
    shown = guarded(page, page.memory.show)(sel)
    return [shown[field] for field in page.parts.memory.settings_inputs()]


def save(page: ChatPage, sel: Selection, **changed: Any) -> Updates:
    """Show the chat's settings, change the named fields and click Save."""
    fields = page.parts.memory.settings
    values = shown_values(page, sel)
    for name, value in changed.items():
        values[page.parts.memory.settings_inputs().index(getattr(fields, name))] = value
    result: Updates = guarded(page, page.memory.save)(*values, sel)
    return result


def status_of(page: ChatPage, updates: Updates) -> str:
    return str(updates[page.parts.conversation.status])


def test_saving_the_switch_keeps_every_other_stored_setting(
    ui: UiBundle, context: AppContext
) -> None:
    page, memory = ui.pages.chat, context.services.memory
    sel = open_first(page, context)
    assert sel.chat_id is not None
    memory.save_settings(sel.chat_id, STORED)
    switch = page.parts.memory.settings_inputs()[0]
    assert switch.label == "Long-term memory for this chat"
    values = shown_values(page, sel)
    values[0] = False
    updates = guarded(page, page.memory.save)(*values, sel)
    assert "Memory settings saved." in status_of(page, updates)
    assert memory.settings(sel.chat_id) == MemorySettings(**{**vars(STORED), "enabled": False})


def test_the_summary_settings_are_shown_and_saved(ui: UiBundle, context: AppContext) -> None:
    page, memory = ui.pages.chat, context.services.memory
    sel = open_first(page, context)
    assert sel.chat_id is not None
    fields = page.parts.memory.settings
    shown = guarded(page, page.memory.show)(sel)
    assert (shown[fields.summary_block], shown[fields.summary_share]) == (20, 15.0)
    assert (shown[fields.query_messages], shown[fields.role]) == (2, "system")
    updates = save(page, sel, summary_block=0, summary_share=25, query_messages=6, role="assistant")
    assert "Memory settings saved." in status_of(page, updates)
    stored = memory.settings(sel.chat_id)
    assert (stored.summary_block, stored.summary_share) == (0, 0.25)
    assert (stored.query_messages, stored.role) == (6, "assistant")
    assert (updates[fields.summary_block], updates[fields.summary_share]) == (0, 25.0)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("summary_block", -1, "Summarize every N messages: must be a whole number from 0 to 500"),
        ("summary_block", 2.5, "Summarize every N messages: must be a whole number"),
        ("summary_share", 80, "Story so far, % of the context: must be a number from 1 to 50"),
        ("summary_share", None, "Story so far, % of the context: must be a number"),
        ("query_messages", 0, "Query of the last N messages: must be a whole number from 1"),
        ("depth", None, "Depth: must be a whole number from 0 to 1000 (got nothing)"),
        ("max_chunks", float("nan"), "At most: must be a whole number"),
        ("threshold", 1.5, "Least similarity: must be a number from 0 to 1"),
        ("role", "narrator", "Role in the chat: pick one of: System, User, Assistant"),
        ("position", None, "Memories go: pick one of"),
    ],
)
def test_a_bad_setting_is_named_on_the_status_line_and_nothing_is_stored(
    ui: UiBundle, context: AppContext, field: str, value: Any, named: str
) -> None:
    page, memory = ui.pages.chat, context.services.memory
    sel = open_first(page, context)
    assert sel.chat_id is not None
    memory.save_settings(sel.chat_id, STORED)
    # the switch changes too, so a partial save would show
    updates = save(page, sel, enabled=False, **{field: value})
    status = status_of(page, updates)
    assert "status-error" in status and named in status
    assert memory.settings(sel.chat_id) == STORED


def test_pinning_a_summary_that_is_gone_says_so(ui: UiBundle, context: AppContext) -> None:
    page, memory = ui.pages.chat, context.services.memory
    sel = open_first(page, context)
    assert sel.chat_id is not None
    fact = memory.add_fact(sel.chat_id, "The lamp is green.")
    updates = guarded(page, page.memory.toggle_pin)(fact.id, sel)
    assert "Unpinned." in status_of(page, updates)
    assert not memory.summaries(sel.chat_id)[0].summary.pinned
    memory.delete_summary(fact.id)
    updates = guarded(page, page.memory.toggle_pin)(fact.id, sel)
    status = status_of(page, updates)
    assert f"summary: #{fact.id} is no longer in this chat" in status
    assert "status-error" in status and BUG_MESSAGE not in status
