"""The Memory panel's handlers, called through the page's error boundary on the scripted
backend: what Save stores, which values it refuses, the summary editor's pin, and what a
status change or another chat does to a summary being edited."""

from __future__ import annotations

from typing import Any

import gradio as gr
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


def choice_ids(update: Any) -> list[int]:
    """The summary ids a picker update offers."""
    return [value for _, value in update["choices"]]


def test_a_status_change_keeps_the_summary_being_edited_and_unsaved_settings(
    ui: UiBundle, context: AppContext
) -> None:
    page, memory = ui.pages.chat, context.services.memory
    panel, editor = page.parts.memory, page.parts.memory.summaries
    sel = open_first(page, context)
    assert sel.chat_id is not None
    fact = memory.add_fact(sel.chat_id, "The lamp is green.")
    guarded(page, page.memory.show)(sel)
    picked = guarded(page, page.memory.pick)(fact.id, sel)
    assert picked[editor.text] == "The lamp is green."
    # The user edits the text and a setting in the browser, saving neither; meanwhile a
    # reply ends (the status line changes) after another fact was pinned.
    bell = memory.add_fact(sel.chat_id, "The bell is cracked.")
    updates = guarded(page, page.memory.refresh)(sel, fact.id)
    assert set(updates) <= set(panel.refresh_outputs())
    assert editor.text not in updates
    assert not set(updates) & set(panel.settings_inputs())
    assert (updates[editor.choice]["value"], choice_ids(updates[editor.choice])) == (
        fact.id,
        [fact.id, bell.id],
    )
    assert "The bell is cracked." in updates[editor.listing]
    assert "chunks of" in updates[panel.index_info]


def test_another_chat_opened_clears_a_pick_of_the_last_ones(
    ui: UiBundle, context: AppContext
) -> None:
    page, memory = ui.pages.chat, context.services.memory
    editor, fields = page.parts.memory.summaries, page.parts.memory.settings
    hesper = open_first(page, context, "HESPER")
    assert hesper.chat_id is not None
    fact = memory.add_fact(hesper.chat_id, "The lamp is green.")
    memory.save_settings(hesper.chat_id, STORED)
    basil = open_first(page, context, "Basil Thorne")
    assert basil.chat_id is not None
    bees = memory.add_fact(basil.chat_id, "Basil keeps bees.")
    refreshed = guarded(page, page.memory.refresh)(basil, fact.id)
    assert (refreshed[editor.choice]["value"], refreshed[editor.text]) == (None, "")
    assert choice_ids(refreshed[editor.choice]) == [bees.id]
    shown = guarded(page, page.memory.show)(basil)
    assert (shown[editor.choice]["value"], shown[editor.text]) == (None, "")
    assert (shown[fields.depth], shown[fields.position]) == (2, "in_chat")  # Basil's, not STORED


@pytest.mark.parametrize("handler", ["save_summary", "delete_summary"])
def test_a_stale_pick_never_changes_another_chats_summary(
    ui: UiBundle, context: AppContext, handler: str
) -> None:
    page, memory = ui.pages.chat, context.services.memory
    hesper = open_first(page, context, "HESPER")
    assert hesper.chat_id is not None
    fact = memory.add_fact(hesper.chat_id, "The lamp is green.")
    basil = open_first(page, context, "Basil Thorne")
    args = (fact.id, "Overwritten.", basil) if handler == "save_summary" else (fact.id, basil)
    status = status_of(page, guarded(page, getattr(page.memory, handler))(*args))
    assert f"summary: #{fact.id} is no longer in this chat" in status
    assert [v.summary.text for v in memory.summaries(hesper.chat_id)] == ["The lamp is green."]


def test_the_panel_is_shown_on_a_new_chat_and_refreshed_on_a_status_change(
    ui: UiBundle,
) -> None:
    page = ui.pages.chat
    panel, controls = page.parts.memory, page.memory
    fns = list(ui.blocks.fns.values())

    def runs(component: Any, event: str, handler: Any) -> Any:
        wired = [f for f in fns if (component._id, event) in f.targets]
        return next(f for f in wired if getattr(f.fn, "__wrapped__", None) == handler)

    refresh = runs(page.parts.conversation.status, "change", controls.refresh)
    assert refresh.inputs == [page.selection, panel.summaries.choice]
    assert refresh.outputs == panel.refresh_outputs()
    assert not set(refresh.outputs) & set(panel.settings_inputs())
    for component, event in ((page.selection, "change"), (panel.accordion, "expand")):
        assert runs(component, event, controls.show).outputs == panel.outputs()


def test_no_chat_open_changes_nothing_in_the_panel(ui: UiBundle) -> None:
    """Their events have no status output: the page's no-change update would fail them."""
    page, panel = ui.pages.chat, ui.pages.chat.parts.memory
    shown = guarded(page, page.memory.show)(Selection())
    refreshed = guarded(page, page.memory.refresh)(Selection(), 3)
    assert set(shown) <= set(panel.outputs()) and set(refreshed) <= set(panel.refresh_outputs())
    assert all(value == gr.skip() for value in (*shown.values(), *refreshed.values()))


def test_a_deleted_summarys_id_sent_by_the_picker_reaches_the_handler_and_clears_the_pick(
    ui: UiBundle, context: AppContext
) -> None:
    """After a delete the browser may still send the deleted id while the picker's
    choices no longer hold it; Gradio refused such an event with an error toast."""
    page, memory = ui.pages.chat, context.services.memory
    editor = page.parts.memory.summaries
    sel = open_first(page, context)
    assert sel.chat_id is not None
    fact = memory.add_fact(sel.chat_id, "The lamp is green.")
    deleted = guarded(page, page.memory.delete_summary)(fact.id, sel)
    assert choice_ids(deleted[editor.choice]) == []
    editor.choice.choices = []  # as the deletion left the picker
    sent = editor.choice.preprocess(fact.id)  # Gradio's check of what the browser sends
    refreshed = guarded(page, page.memory.refresh)(sel, sent)
    assert refreshed[editor.choice]["value"] is None and refreshed[editor.text] == ""
    typed = guarded(page, page.memory.pick)("lamp", sel)  # text typed into the picker
    assert editor.text not in typed  # nothing picked: nothing shown
    refused = guarded(page, page.memory.toggle_pin)("lamp", sel)
    assert "no longer in this chat" in refused[page.parts.conversation.status]


def test_saving_settings_leaves_the_pick_and_its_unsaved_text_as_the_browser_has_them(
    ui: UiBundle, context: AppContext
) -> None:
    """Clearing them there only to have the status change restore the pick left a
    summary shown picked beside an empty text."""
    page, memory = ui.pages.chat, context.services.memory
    editor = page.parts.memory.summaries
    sel = open_first(page, context)
    assert sel.chat_id is not None
    fact = memory.add_fact(sel.chat_id, "The lamp is green.")
    saved = guarded(page, page.memory.save)(*shown_values(page, sel), sel)
    assert "value" not in saved[editor.choice] and editor.text not in saved
    assert choice_ids(saved[editor.choice]) == [fact.id]
    pinned = guarded(page, page.memory.toggle_pin)(fact.id, sel)
    assert pinned[editor.choice]["value"] == fact.id
    assert pinned[editor.text] == "The lamp is green."


def test_the_panels_events_land_in_the_order_sent(ui: UiBundle) -> None:
    """One queue: a refresh started before a save could overwrite the saved summary in
    the listing with what it had read (seen in a browser test on the busy CI machine)."""
    controls = ui.pages.chat.memory
    handlers = {
        controls.show, controls.refresh, controls.save, controls.rebuild, controls.pick,
        controls.save_summary, controls.toggle_pin, controls.delete_summary, controls.add_fact,
    }  # fmt: skip
    wired = [f for f in ui.blocks.fns.values() if getattr(f.fn, "__wrapped__", None) in handlers]
    assert len(wired) == len(handlers) + 1  # shown on expanding and on another chat
    assert {(f.concurrency_id, f.concurrency_limit) for f in wired} == {("memory", 1)}
    # a pick on select only: the input event also fires when the dropdown loses focus,
    # and that second pick overwrote the text the user had begun to type
    picks = [f for f in wired if f.fn.__wrapped__ == controls.pick]
    assert [f.targets for f in picks] == [
        [(ui.pages.chat.parts.memory.summaries.choice._id, "select")]
    ]
