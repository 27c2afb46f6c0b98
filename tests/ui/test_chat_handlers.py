"""The chat page's handlers, called directly on the scripted backend (no browser).

Handlers are called through the page's error boundary, as Gradio calls them.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Callable, Generator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import gradio as gr
import pytest

from app.chat.memory.recall import LONG_CHAT
from app.context import AppContext
from app.prompt.itemize import STORY_SO_FAR_LABEL
from app.storage.types import Role
from app.ui.app import UiBundle
from app.ui.chat_page import ChatPage
from app.ui.chat_stream import MAX_UPDATES_PER_SECOND, Action, Throttle
from app.ui.state import Selection
from tests.ui.conftest import SlowBackend

Updates = dict[Any, Any]


def guarded(page: ChatPage, handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` inside the page's error boundary, as the events call it."""
    return page.boundary.guard(handler)


def drain(updates: Any) -> list[Updates]:
    return list(updates)


def open_first(page: ChatPage, context: AppContext, name: str = "HESPER") -> Selection:
    """Pick a starter character; its chat opens with the greeting."""
    character = context.library.find(name)
    updates = guarded(page, page.nav.pick_character)(character.id, Selection())
    sel = updates[page.selection]
    assert isinstance(sel, Selection) and sel.chat_id is not None
    return sel


def send(page: ChatPage, text: str, sel: Selection) -> list[Updates]:
    """What Enter does: take the text off the box, then generate."""
    accepted = page.stream.accept(text)
    return drain(guarded(page, page.stream.send)(accepted[page.parts.state.pending], sel))


def click(page: ChatPage, sel: Selection, action: str) -> list[Updates]:
    return drain(guarded(page, page.stream.act)(sel, gr.EventData(None, {"action": action})))


def last_sel(steps: list[Updates], page: ChatPage, default: Selection) -> Selection:
    for step in reversed(steps):
        if page.selection in step:
            found = step[page.selection]
            assert isinstance(found, Selection)
            return found
    return default


def test_events_are_wired_for_one_generation_at_a_time(ui: UiBundle) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    fns = list(ui.blocks.fns.values())

    def by_target(component: Any, event: str) -> Any:
        return next(f for f in fns if (component._id, event) in f.targets)

    for component, event in (
        (conv.regenerate, "click"), (conv.continue_reply, "click"),
        (conv.impersonate, "click"), (ui.pages.models.load, "click"),
    ):  # fmt: skip
        fn = by_target(component, event)
        assert fn.concurrency_id == "generation" and fn.concurrency_limit == 1
    for component, event in ((conv.input_box, "submit"), (conv.send, "click")):
        accept = by_target(component, event)
        assert accept.queue is False  # the text leaves the box at once
        send = next(f for f in fns if f.trigger_after == accept._id)
        assert send.concurrency_id == "generation" and send.concurrency_limit == 1
    stop = by_target(conv.stop, "click")
    assert stop.queue is False  # Stop must run while a reply holds the queue
    assert isinstance(page.selection, gr.State)
    assert isinstance(page.parts.state.remembered, gr.BrowserState)


def test_nothing_to_change_is_a_real_no_op(ui: UiBundle) -> None:
    """Gradio fails an event whose handler returns {} ("not enough output values")."""
    page = ui.pages.chat
    status = page.parts.conversation.status
    for updates in (
        page.refresh(Selection()),
        guarded(page, page.stream.show_earlier)(Selection(), gr.EventData(None, {"action": "x"})),
        guarded(page, page.nav.open_chat)(None, Selection()),
    ):
        assert updates == {status: gr.skip()}
    steps = click(page, Selection(), "earlier:0")
    assert steps == [{status: gr.skip()}]


def test_the_first_open_shows_a_chat_a_new_user_can_type_into(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    request = SimpleNamespace(query_params={})
    first = guarded(page, page.nav.on_load)(None, request)
    sel = first[page.selection]
    assert sel.character_id is not None and sel.chat_id is not None
    assert first[page.parts.sidebar.character]["value"] == sel.character_id
    chats = context.stores.chats.list_chats(sel.character_id)
    assert [c.id for c in chats] == [sel.chat_id]
    backend.enqueue(["Welcome, traveller."])
    steps = send(page, "Hello?", sel)
    assert "complete" in steps[-1][page.parts.conversation.status]
    assert context.stores.chats.active_path(sel.chat_id)[-1].content == "Welcome, traveller."
    # A reload opens the same chat rather than creating another.
    again = guarded(page, page.nav.on_load)(sel.to_json(), request)
    assert again[page.selection].chat_id == sel.chat_id


def test_new_chat_right_after_picking_makes_no_twin(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.chat
    sel = open_first(page, context, "Basil Thorne")
    updates = guarded(page, page.nav.new_chat)(sel)
    assert updates[page.selection].chat_id == sel.chat_id
    assert "new" in updates[page.parts.conversation.status]
    assert len(context.stores.chats.list_chats(sel.character_id)) == 1


def test_a_new_chat_opens_with_the_greeting_and_its_alternatives(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context)
    view = context.chat.view(sel.chat_id or 0)
    assert len(view.messages) == 1 and view.messages[0].swipe_count == 3
    updates = page.screen.show(sel)
    patch = updates[page.parts.conversation.chat_html]
    assert patch["reset"] is True and '<span class="swipe-count">1/3</span>' in patch["html"]
    location = f"?character={sel.character_id}&chat={sel.chat_id}"
    assert updates[page.parts.state.location] == location
    swiped = click(page, sel, f"swipe:{view.messages[0].message.id}:1")
    assert "2/3" in str(swiped[-1][page.parts.conversation.chat_html])


def test_send_streams_into_the_live_pane_only_then_patches_the_chat(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    sel = page.screen.show(open_first(page, context))[page.selection]
    backend.enqueue([f"word{i} " for i in range(40)])
    accepted = page.stream.accept("Hello *there*")
    assert accepted[conv.input_box] == "" and conv.status not in accepted
    steps = drain(guarded(page, page.stream.send)(accepted[page.parts.state.pending], sel))
    first, middle, final = steps[0], steps[1:-1], steps[-1]
    assert "Hello <em>there</em>" in first[conv.live_html]
    assert first[conv.send]["visible"] is False and first[conv.stop]["visible"] is True
    assert middle, "the reply should stream"
    # Streamed pieces patch the live pane only (and keep Stop shown), never the chat pane.
    assert all(set(step) == {conv.live_html, conv.send, conv.stop} for step in middle)
    assert all(step[conv.stop]["visible"] is True for step in middle)
    assert "word3" in middle[-1][conv.live_html]
    patch = final[conv.chat_html]
    assert patch["reset"] is False and patch["keep"] == 1  # the greeting stays on screen
    assert patch["tail"].count('class="msg ') == 2 and "word39" in patch["tail"]
    assert "tokens/s" in final[conv.status] and "complete" in final[conv.status]
    assert final[conv.live_html] == ""
    assert final[conv.send]["visible"] is True and final[conv.stop]["visible"] is False
    path = context.stores.chats.active_path(sel.chat_id or 0)
    assert [m.role for m in path] == [Role.ASSISTANT, Role.USER, Role.ASSISTANT]


def test_a_message_sent_while_a_reply_is_written_says_it_is_queued(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context)
    backend.enqueue([f"w{i} " for i in range(30)])
    steps = guarded(page, page.stream.send)("first", sel)
    next(steps)
    next(steps)  # the reply is being written now
    queued = page.stream.accept("second")
    assert "Queued" in queued[page.parts.conversation.status]
    assert queued[page.parts.state.pending] == "second"
    drain(steps)
    assert not context.chat.busy()


def test_stop_keeps_the_partial_reply(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    sel = open_first(page, context)
    backend.delay = 0.05
    backend.enqueue([f"w{i} " for i in range(200)])
    steps: list[Updates] = []
    for step in guarded(page, page.stream.send)("Tell me a long story", sel):
        steps.append(step)
        if len(steps) == 4:
            page.stream.stop()
    assert "stopped" in steps[-1][conv.status]
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    assert reply.role == Role.ASSISTANT and reply.gen_info.stopped
    assert reply.content.startswith("w0 w1") and "w199" not in reply.content
    assert "msg-stopped" in steps[-1][conv.chat_html]["tail"]


def test_a_browser_going_away_mid_reply_keeps_the_partial_text(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context)
    backend.delay = 0.05
    backend.enqueue([f"w{i} " for i in range(200)])
    steps = cast(Generator[Updates, None, None], guarded(page, page.stream.send)("Hello?", sel))
    for _ in range(4):
        next(steps)
    steps.close()  # what Gradio does when the page is closed or reloaded
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    assert reply.role == Role.ASSISTANT and reply.gen_info.stopped
    assert reply.content.startswith("w0 ") and "w199" not in reply.content


def test_an_error_puts_the_unsent_text_back(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    sel = open_first(page, context)
    context.models.unload()
    steps = send(page, "Are you there?", sel)
    assert "no model is loaded" in steps[-1][conv.status]
    assert steps[-1][conv.input_box] == "Are you there?"
    assert steps[-1][conv.send]["visible"] is True
    assert len(context.stores.chats.active_path(sel.chat_id or 0)) == 1
    assert "No model loaded" in page.nav.update_meter(sel)[conv.meter]


def test_a_bug_is_a_status_line_and_the_send_button_comes_back(
    ui: UiBundle, context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    sel = open_first(page, context)

    def broken(chat_id: int, text: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(context.chat, "send", broken)
    steps = drain(page.generation_boundary.guard(page.stream.send)("hi", sel))
    assert "server log" in steps[-1][conv.status]
    assert steps[-1][conv.send]["visible"] is True and steps[-1][conv.stop]["visible"] is False


def test_a_chat_of_a_trashed_character_is_not_reopened(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.chat
    sel = open_first(page, context, "Ysolde Marrow")
    context.stores.characters.trash(sel.character_id or 0)
    request = SimpleNamespace(query_params={"chat": str(sel.chat_id)})
    shown = guarded(page, page.nav.on_load)(None, request)
    assert shown[page.selection].chat_id != sel.chat_id
    choices = shown[page.parts.sidebar.character]["choices"]
    assert sel.character_id not in [value for _, value in choices]


def test_swipes_generate_past_the_last_and_keep_their_continuations(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    sel = open_first(page, context, "Basil Thorne")
    backend.enqueue(["first reply"])
    sel = last_sel(send(page, "Hi", sel), page, sel)
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    backend.enqueue(["second reply"])
    steps = click(page, sel, f"swipe:{reply.id}:1")
    assert any("second reply" in str(s.get(conv.live_html, "")) for s in steps[:-1])
    assert "2/2" in str(steps[-1][conv.chat_html])
    assert "tokens/s" in steps[-1][conv.status]  # a generated swipe reports like Send
    sel = last_sel(steps, page, sel)
    second = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    backend.enqueue(["continuation of the second"])
    sel = last_sel(send(page, "Go on", sel), page, sel)
    sel = last_sel(click(page, sel, f"swipe:{second.id}:-1"), page, sel)
    texts = [m.content for m in context.stores.chats.active_path(sel.chat_id or 0)]
    assert texts[-1] == "first reply" and "Go on" not in texts
    sel = last_sel(click(page, sel, f"swipe:{reply.id}:1"), page, sel)
    texts = [m.content for m in context.stores.chats.active_path(sel.chat_id or 0)]
    assert texts[-3:] == ["second reply", "Go on", "continuation of the second"]


def test_edit_in_place_as_a_swipe_delete_and_branch(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    ed, stream = page.parts.editor, page.stream
    sel = open_first(page, context)
    backend.enqueue(["a reply"])
    sel = last_sel(send(page, "original", sel), page, sel)
    user, reply = context.stores.chats.active_path(sel.chat_id or 0)[-2:]
    opened = click(page, sel, f"edit:{user.id}")[-1]
    assert opened[ed.edit_box] == "original" and opened[page.parts.state.edit_target] == user.id
    guarded(page, stream.save_edit)("changed", user.id, sel)
    assert context.stores.chats.get_message(user.id).content == "changed"
    updates = guarded(page, stream.save_edit_as_swipe)("alternative", reply.id, sel)
    assert "2/2" in str(updates[page.parts.conversation.chat_html])
    assert context.stores.chats.get_message(reply.id).content == "a reply"  # kept
    asked = click(page, sel, f"delete:{user.id}")[-1]
    assert "1 shown below" in asked[ed.delete_note]
    branched = click(page, sel, f"branch:{user.id}")[-1]
    new = branched[page.selection]
    assert new.chat_id != sel.chat_id
    assert [m.content for m in context.stores.chats.active_path(new.chat_id)][-1] == "changed"
    done = guarded(page, stream.confirm_delete)(user.id, sel)
    assert "Deleted 3 messages" in done[page.parts.conversation.status]
    assert len(context.stores.chats.active_path(sel.chat_id or 0)) == 1


def test_branching_from_a_greeting_keeps_its_swipes(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.chat
    sel = open_first(page, context)
    greeting = context.chat.view(sel.chat_id or 0).messages[0]
    assert greeting.swipe_count == 3
    branched = click(page, sel, f"branch:{greeting.message.id}")[-1]
    copy = context.chat.view(branched[page.selection].chat_id)
    assert (copy.messages[0].swipe_index, copy.messages[0].swipe_count) == (0, 3)
    assert "1/3" in branched[page.parts.conversation.chat_html]["html"]


def test_regenerate_continue_and_impersonate(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    conv, stream = page.parts.conversation, page.stream
    sel = open_first(page, context)
    backend.enqueue(["one"])
    sel = last_sel(send(page, "hi", sel), page, sel)
    backend.enqueue(["two"])
    steps = drain(guarded(page, stream.regenerate)(sel))
    assert "2/2" in str(steps[-1][conv.chat_html])
    assert "tokens/s" in steps[-1][conv.status]  # the status line is filled, as after Send
    backend.enqueue([" and more"])
    drain(guarded(page, stream.continue_reply)(sel))
    assert context.stores.chats.active_path(sel.chat_id or 0)[-1].content == "two and more"
    backend.enqueue(["I wave back."])
    steps = drain(guarded(page, stream.impersonate)(sel))
    assert steps[-1][conv.input_box] == "I wave back."
    assert context.stores.chats.active_path(sel.chat_id or 0)[-1].content == "two and more"


def test_continue_without_a_reply_says_so_and_brings_send_back(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    sel = open_first(page, context)
    backend.enqueue(["hello"])
    sel = last_sel(send(page, "hi", sel), page, sel)
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    guarded(page, page.stream.confirm_delete)(reply.id, sel)  # the user's turn is last now
    steps = drain(page.generation_boundary.guard(page.stream.continue_reply)(sel))
    assert "not a reply to continue" in steps[-1][conv.status]
    assert steps[-1][conv.send]["visible"] is True and steps[-1][conv.stop]["visible"] is False
    assert context.stores.chats.active_path(sel.chat_id or 0)[-1].content == "hi"


def test_chat_list_rename_duplicate_trash_restore(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    nav, side = page.nav, page.parts.sidebar
    sel = open_first(page, context)
    backend.enqueue(["the zeppelin is late"])
    sel = last_sel(send(page, "Where is the zeppelin?", sel), page, sel)
    renamed = guarded(page, nav.rename)("Skyport", sel)
    assert "Skyport" in str(renamed[page.parts.conversation.header])
    assert renamed[side.title] == "Skyport"
    copy = guarded(page, nav.duplicate)(sel)[page.selection]
    assert copy.chat_id != sel.chat_id
    assert len(page.screen.chat_choices(copy)) == 2
    trashed = guarded(page, nav.trash)(copy)
    assert trashed[page.selection].chat_id == sel.chat_id
    trash_choices = trashed[side.trash_list]["choices"]
    assert [value for _, value in trash_choices] == [copy.chat_id]
    restored = guarded(page, nav.restore)(copy.chat_id, trashed[page.selection])
    assert restored[page.selection].chat_id == copy.chat_id


def test_search_covers_all_chats_and_opens_a_hit_at_its_message(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    nav, side = page.nav, page.parts.sidebar
    hesper = open_first(page, context, "HESPER")
    backend.enqueue(["the zeppelin is late"])
    send(page, "Where is the zeppelin?", hesper)
    basil = open_first(page, context, "Basil Thorne")
    for index in range(130):  # push the hit out of the first window of a long chat
        backend.enqueue([f"reply {index}"])
        text = "a zeppelin of my own" if index == 0 else f"message {index}"
        send(page, text, basil)
    found = guarded(page, nav.search)("zeppelin", "All chats", basil)
    hits = found[side.search_results]["choices"]
    assert len(hits) == 3  # both of HESPER's and Basil's own
    assert "3 matching messages in 2 chats" in found[page.parts.conversation.status]
    only_basil = guarded(page, nav.search)("zeppelin", "This character", basil)
    assert len(only_basil[side.search_results]["choices"]) == 1
    hit = only_basil[side.search_results]["choices"][0][1]
    opened = guarded(page, nav.open_hit)(hit, hesper)
    patch = opened[page.parts.conversation.chat_html]
    assert opened[page.selection].chat_id == basil.chat_id
    assert patch["reset"] is True and patch["focus"] == hit
    assert f'data-message-id="{hit}"' in patch["html"] and patch["more"] == 0
    plain = guarded(page, nav.open_chat)(basil.chat_id, hesper)
    assert f'data-message-id="{hit}"' not in plain[page.parts.conversation.chat_html]["html"]


def test_search_hit_on_another_branch_shows_that_branch(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context, "Basil Thorne")
    backend.enqueue(["the albatross sings"])
    sel = last_sel(send(page, "Sing", sel), page, sel)
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    backend.enqueue(["silence"])
    sel = last_sel(click(page, sel, f"swipe:{reply.id}:1"), page, sel)
    hits = context.chat.search("albatross")
    opened = guarded(page, page.nav.open_hit)(hits[0].message_id, sel)
    assert opened[page.parts.conversation.chat_html]["focus"] == reply.id
    assert context.stores.chats.active_path(sel.chat_id or 0)[-1].id == reply.id


def test_author_note_and_overrides_reach_the_prompt(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    nav, st, conv = page.nav, page.parts.settings, page.parts.conversation
    sel = open_first(page, context)
    backend.enqueue(["Noted."])
    sel = last_sel(send(page, "Status report?", sel), page, sel)  # notes need a user turn
    persona = context.stores.personas.create("Wren", description="A courier.")
    updates = guarded(page, nav.save_settings)(
        "[Style: terse]", 1, 1, "in_chat", "system", "Deterministic", "ChatML", persona.id, sel
    )
    assert "saved" in updates[conv.status]
    settings = context.stores.chats.get_chat(sel.chat_id or 0).settings
    assert (settings.author_note.text, settings.author_note.depth) == ("[Style: terse]", 1)
    assert settings.preset == "Deterministic" and settings.format == "ChatML"
    assert context.stores.chats.get_chat(sel.chat_id or 0).persona_id == persona.id
    shown = guarded(page, nav.show_prompt)(sel)
    prompt = page.parts.prompt
    assert "[Style: terse]" in shown[prompt.text]
    assert "<|im_start|>" in shown[prompt.text] and "format ChatML" in shown[prompt.info]
    assert "Chat history" in shown[prompt.breakdown] and "Story string" in shown[prompt.breakdown]
    meter = nav.update_meter(sel)[conv.meter]
    assert "Context" in meter and "/ 8,192 tokens" in meter
    cleared = guarded(page, nav.save_settings)(
        "", 4, 1, "in_chat", "system", "(auto)", "(auto)", 0, sel
    )
    assert cleared[st.preset]["value"] == "(auto)"
    assert context.stores.chats.get_chat(sel.chat_id or 0).settings.author_note.text == ""


def test_show_prompt_breaks_out_what_long_term_memory_costs(
    ui: UiBundle, context: AppContext
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context)
    fact = "HESPER's hull was patched in the spring."
    context.services.memory.add_fact(sel.chat_id or 0, fact)
    shown = guarded(page, page.nav.show_prompt)(sel)
    prompt = page.parts.prompt
    story_so_far = f"[Facts to remember:\n- {fact}\n]"
    assert story_so_far in shown[prompt.text]
    row = f"<tr><td>{html.escape(STORY_SO_FAR_LABEL)}</td><td>{len(story_so_far)}</td></tr>"
    assert row in shown[prompt.breakdown]  # the scripted backend counts code points


def test_a_chat_whose_format_is_gone_warns_and_still_sends(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    page = ui.pages.chat
    conv = page.parts.conversation
    sel = open_first(page, context)
    guarded(page, page.nav.save_settings)(
        "", 4, 1, "in_chat", "system", "Deterministic", "ChatML", 0, sel
    )
    gone = context.stores.chats.get_chat(sel.chat_id or 0).settings
    from dataclasses import replace

    context.stores.chats.update_settings(
        sel.chat_id or 0, replace(gone, format="Imported Gone", preset="Vanished")
    )
    shown = page.screen.show(sel, sel)
    assert "Imported Gone" in shown[conv.status] and "Vanished" in shown[conv.status]
    assert shown[page.parts.settings.format]["value"] == "(auto)"
    backend.enqueue(["still here"])
    steps = send(page, "hello?", sel)
    assert "complete" in steps[-1][conv.status] and "no longer exists" in steps[-1][conv.status]
    assert context.stores.chats.active_path(sel.chat_id or 0)[-1].content == "still here"


def test_chats_import_and_export_as_sillytavern_jsonl(
    ui: UiBundle, context: AppContext, tmp_path: Path
) -> None:
    page = ui.pages.chat
    side = page.parts.sidebar
    sel = open_first(page, context, "Basil Thorne")
    header = {"user_name": "You", "character_name": "unused", "create_date": "2024-5-1 @10h 00m",
              "chat_metadata": {"note_prompt": "[Rain falls.]", "note_depth": 2}}  # fmt: skip
    lines = [header, {"name": "Basil Thorne", "is_user": False, "mes": "Tea?",
                      "send_date": "2024-05-01T10:00:00.000Z"},
             {"name": "You", "is_user": True, "mes": "Please.",
              "send_date": "2024-05-01T10:01:00.000Z"}]  # fmt: skip
    path = tmp_path / "Tea time.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json")
    updates = guarded(page, page.nav.import_chats)([str(path), str(broken)], sel)
    report = updates[side.import_report]
    assert "✓ Tea time.jsonl: imported “Tea time”" in report and "✗ broken.jsonl" in report
    imported = next(
        c for c in context.chat.chats_of(sel.character_id or 0) if c.title == "Tea time"
    )
    assert imported.settings.author_note.text == "[Rain falls.]"
    # too short to leave the context soon: not embedded at import (torch is not loaded)
    assert context.services.memory.overview(imported.id).chunks == 0
    opened = guarded(page, page.nav.open_chat)(imported.id, sel)
    assert opened[page.parts.settings.note_text] == "[Rain falls.]"
    assert "[Rain falls.]" in context.chat.prompt(imported.id).text
    exported = guarded(page, page.nav.export_chat)(opened[page.selection])
    file = Path(exported[side.export_file]["value"])
    assert [json.loads(line)["mes"] for line in file.read_text().splitlines()[1:]] == [
        "Tea?", "Please.",
    ]  # fmt: skip


def test_a_long_imported_chat_is_embedded_for_memory_at_once(
    ui: UiBundle, context: AppContext, tmp_path: Path
) -> None:
    page = ui.pages.chat
    sel = open_first(page, context, "Basil Thorne")
    header = {"user_name": "You", "character_name": "unused", "chat_metadata": {}}
    lines = [header] + [
        {"name": "You" if i % 2 else "Basil Thorne", "is_user": bool(i % 2),
         "mes": f"Line {i}: the clock in the window, the ledger and crate number {i}."}
        for i in range(LONG_CHAT)
    ]  # fmt: skip
    path = tmp_path / "Long day.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    updates = guarded(page, page.nav.import_chats)([str(path)], sel)
    assert "✓ Long day.jsonl" in updates[page.parts.sidebar.import_report]
    imported = next(
        c for c in context.chat.chats_of(sel.character_id or 0) if c.title == "Long day"
    )
    overview = context.services.memory.overview(imported.id)
    assert overview.messages == LONG_CHAT and overview.chunks == LONG_CHAT


def test_file_inputs_refuse_a_path_that_was_not_uploaded(
    context: AppContext, tmp_path: Path
) -> None:
    from app.ui.app import build_ui

    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    secret = tmp_path / "not-uploaded.jsonl"
    secret.write_text('{"chat_metadata": {}}\n')
    ui = build_ui(context, upload_roots=[upload_dir])
    page = ui.pages.chat
    sel = open_first(page, context, "Basil Thorne")
    before = len(context.chat.chats_of(sel.character_id or 0))
    updates = guarded(page, page.nav.import_chats)([str(secret)], sel)
    assert "✗ not-uploaded.jsonl: was not uploaded" in updates[page.parts.sidebar.import_report]
    assert len(context.chat.chats_of(sel.character_id or 0)) == before


def test_each_browser_keeps_its_own_selection(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.chat
    tab_a = open_first(page, context, "HESPER")
    tab_b = open_first(page, context, "Ysolde Marrow")
    again_a = guarded(page, page.nav.open_chat)(tab_a.chat_id, tab_a)
    again_b = guarded(page, page.nav.open_chat)(tab_b.chat_id, tab_b)
    assert again_a[page.selection].chat_id == tab_a.chat_id
    assert again_b[page.selection].chat_id == tab_b.chat_id
    header = page.parts.conversation.header
    assert "HESPER" in again_a[header] and "Ysolde" in again_b[header]
    for controller in (page, page.nav, page.stream, page.screen):
        assert not any(isinstance(v, Selection) for v in vars(controller).values())


def test_reload_restores_the_url_selection(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.chat
    sel = open_first(page, context, "Ysolde Marrow")
    request = SimpleNamespace(query_params={"chat": str(sel.chat_id)})
    updates = guarded(page, page.nav.on_load)(None, request)
    assert updates[page.selection].chat_id == sel.chat_id
    remembered = guarded(page, page.nav.on_load)(sel.to_json(), None)
    assert remembered[page.selection].chat_id == sel.chat_id


def test_the_live_pane_is_updated_at_most_max_updates_per_second() -> None:
    now = [100.0]
    throttle = Throttle(1 / MAX_UPDATES_PER_SECOND, clock=lambda: now[0])
    passed = []
    for _ in range(60):  # a token every 10 ms for 0.6 s
        passed.append(throttle.ready())
        now[0] += 0.01
    assert passed[0] is True  # the first piece shows at once
    assert sum(passed) == 9  # then one every 70 ms: 0.6 s * 15/s, rounded up to whole tokens
    gaps = [b - a for a, b in itertools.pairwise(i for i, ok in enumerate(passed) if ok)]
    assert set(gaps) == {7}


def test_actions_parse_strictly() -> None:
    assert Action.parse("swipe:12:-1") == Action("swipe", 12, -1)
    assert Action.parse("swipe:12:1") == Action("swipe", 12, 1)
    assert Action.parse("edit:3") == Action("edit", 3)
    for bad in ("", "swipe:12", "swipe:x:1", "drop:1", "edit:1:2", None, "edit:-1"):
        assert Action.parse(bad) is None
