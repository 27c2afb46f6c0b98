"""The chat page's handlers, called directly on the scripted backend (no browser)."""

from __future__ import annotations

import time
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any, cast

import gradio as gr

from app.context import AppContext
from app.storage.types import Role
from app.ui.app import UiBundle
from app.ui.chat_page import ChatPage
from app.ui.chat_stream import MAX_UPDATES_PER_SECOND, Action
from app.ui.state import Selection
from tests.ui.conftest import SlowBackend

Updates = dict[Any, Any]


def drain(updates: Any) -> list[Updates]:
    return list(updates)


def open_first(chat: ChatPage, context: AppContext, name: str = "HESPER") -> Selection:
    """Pick a starter character; its chat opens with the greeting."""
    character = context.library.find(name)
    updates = chat.pick_character(character.id, Selection())
    sel = updates[chat.selection]
    assert isinstance(sel, Selection) and sel.chat_id is not None
    return sel


def click(chat: ChatPage, sel: Selection, action: str) -> list[Updates]:
    return drain(chat.act(sel, gr.EventData(None, {"action": action})))


def last_sel(steps: list[Updates], chat: ChatPage, default: Selection) -> Selection:
    for step in reversed(steps):
        if chat.selection in step:
            found = step[chat.selection]
            assert isinstance(found, Selection)
            return found
    return default


def test_events_are_wired_for_one_generation_at_a_time(ui: UiBundle) -> None:
    chat = ui.pages.chat
    fns = list(ui.blocks.fns.values())

    def by_target(component: Any, event: str) -> Any:
        return next(f for f in fns if (component._id, event) in f.targets)

    for component, event in (
        (chat.input_box, "submit"), (chat.send_button, "click"),
        (chat.regenerate_button, "click"), (chat.continue_button, "click"),
        (chat.impersonate_button, "click"), (chat.chat_html, "click"),
        (ui.pages.models.load, "click"),
    ):  # fmt: skip
        fn = by_target(component, event)
        assert fn.concurrency_id == "generation" and fn.concurrency_limit == 1
    stop = by_target(chat.stop_button, "click")
    assert stop.queue is False  # Stop must run while a reply holds the queue
    assert isinstance(chat.selection, gr.State) and isinstance(chat.remembered, gr.BrowserState)


def test_a_new_chat_opens_with_the_greeting_and_its_alternatives(
    ui: UiBundle, context: AppContext
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    view = context.chat.view(sel.chat_id or 0)
    assert len(view.messages) == 1 and view.messages[0].swipe_count == 3
    updates = chat.screen(sel)
    patch = updates[chat.chat_html]
    assert patch["reset"] is True and '<span class="swipe-count">1/3</span>' in patch["html"]
    assert updates[chat.location] == f"?character={sel.character_id}&chat={sel.chat_id}"
    swiped = click(chat, sel, f"swipe:{view.messages[0].message.id}:1")
    assert "2/3" in str(swiped[-1][chat.chat_html])


def test_send_streams_into_the_live_pane_only_then_patches_the_chat(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    sel = chat.screen(sel)[chat.selection]
    backend.enqueue([f"word{i} " for i in range(40)])
    started = time.monotonic()
    steps = drain(chat.send("Hello *there*", sel))
    elapsed = time.monotonic() - started
    first, middle, final = steps[0], steps[1:-1], steps[-1]
    assert first[chat.input_box] == "" and "Hello <em>there</em>" in first[chat.live_html]
    assert middle, "the reply should stream"
    assert all(set(step) == {chat.live_html} for step in middle)
    assert "word3" in middle[-1][chat.live_html]
    assert len(middle) <= elapsed * MAX_UPDATES_PER_SECOND + 2
    patch = final[chat.chat_html]
    assert patch["reset"] is False and patch["keep"] == 1  # the greeting stays on screen
    assert patch["tail"].count('class="msg ') == 2 and "word39" in patch["tail"]
    assert "tokens/s" in final[chat.status] and "complete" in final[chat.status]
    assert final[chat.live_html] == ""
    path = context.stores.chats.active_path(sel.chat_id or 0)
    assert [m.role for m in path] == [Role.ASSISTANT, Role.USER, Role.ASSISTANT]


def test_stop_keeps_the_partial_reply(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    backend.delay = 0.05
    backend.enqueue([f"w{i} " for i in range(200)])
    steps: list[Updates] = []
    for step in chat.send("Tell me a long story", sel):
        steps.append(step)
        if len(steps) == 4:
            chat.stop()
    assert "stopped" in steps[-1][chat.status]
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    assert reply.role == Role.ASSISTANT and reply.gen_info.stopped
    assert reply.content.startswith("w0 w1") and "w199" not in reply.content
    assert "msg-stopped" in steps[-1][chat.chat_html]["tail"]


def test_a_browser_going_away_mid_reply_keeps_the_partial_text(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    backend.delay = 0.05
    backend.enqueue([f"w{i} " for i in range(200)])
    steps = cast(Generator[Updates, None, None], chat.send("Hello?", sel))
    for _ in range(4):
        next(steps)
    steps.close()  # what Gradio does when the page is closed or reloaded
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    assert reply.role == Role.ASSISTANT and reply.gen_info.stopped
    assert reply.content.startswith("w0 ") and "w199" not in reply.content


def test_an_error_puts_the_unsent_text_back(ui: UiBundle, context: AppContext) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    context.models.unload()
    steps = drain(chat.send("Are you there?", sel))
    assert steps[0][chat.input_box] == ""
    assert "no model is loaded" in steps[-1][chat.status]
    assert steps[-1][chat.input_box] == "Are you there?"
    assert len(context.stores.chats.active_path(sel.chat_id or 0)) == 1
    assert "No model loaded" in chat.update_meter(sel)


def test_a_chat_of_a_trashed_character_is_not_reopened(ui: UiBundle, context: AppContext) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context, "Ysolde Marrow")
    context.stores.characters.trash(sel.character_id or 0)
    request = SimpleNamespace(query_params={"chat": str(sel.chat_id)})
    shown = chat.on_load(None, request)  # type: ignore[arg-type]
    assert shown[chat.selection].chat_id != sel.chat_id
    assert sel.character_id not in [value for _, value in shown[chat.character]["choices"]]


def test_swipes_generate_past_the_last_and_keep_their_continuations(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context, "Basil Thorne")
    backend.enqueue(["first reply"])
    sel = last_sel(drain(chat.send("Hi", sel)), chat, sel)
    reply = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    backend.enqueue(["second reply"])
    steps = click(chat, sel, f"swipe:{reply.id}:1")
    assert any("second reply" in str(s.get(chat.live_html, "")) for s in steps[:-1])
    assert "2/2" in str(steps[-1][chat.chat_html])
    sel = last_sel(steps, chat, sel)
    second = context.stores.chats.active_path(sel.chat_id or 0)[-1]
    backend.enqueue(["continuation of the second"])
    sel = last_sel(drain(chat.send("Go on", sel)), chat, sel)
    sel = last_sel(click(chat, sel, f"swipe:{second.id}:-1"), chat, sel)
    texts = [m.content for m in context.stores.chats.active_path(sel.chat_id or 0)]
    assert texts[-1] == "first reply" and "Go on" not in texts
    sel = last_sel(click(chat, sel, f"swipe:{reply.id}:1"), chat, sel)
    texts = [m.content for m in context.stores.chats.active_path(sel.chat_id or 0)]
    assert texts[-3:] == ["second reply", "Go on", "continuation of the second"]


def test_edit_in_place_as_a_swipe_delete_and_branch(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    backend.enqueue(["a reply"])
    sel = last_sel(drain(chat.send("original", sel)), chat, sel)
    user, reply = context.stores.chats.active_path(sel.chat_id or 0)[-2:]
    opened = click(chat, sel, f"edit:{user.id}")[-1]
    assert opened[chat.edit_box] == "original" and opened[chat.edit_target] == user.id
    chat.save_edit("changed", user.id, sel)
    assert context.stores.chats.get_message(user.id).content == "changed"
    updates = chat.save_edit_as_swipe("alternative", reply.id, sel)
    assert "2/2" in str(updates[chat.chat_html])
    assert context.stores.chats.get_message(reply.id).content == "a reply"  # kept
    asked = click(chat, sel, f"delete:{user.id}")[-1]
    assert "1 shown below" in asked[chat.delete_note]
    branched = click(chat, sel, f"branch:{user.id}")[-1]
    new = branched[chat.selection]
    assert new.chat_id != sel.chat_id
    assert [m.content for m in context.stores.chats.active_path(new.chat_id)][-1] == "changed"
    done = chat.confirm_delete(user.id, sel)
    assert "Deleted 3 messages" in done[chat.status]  # the user turn and both replies
    assert len(context.stores.chats.active_path(sel.chat_id or 0)) == 1


def test_regenerate_continue_and_impersonate(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    backend.enqueue(["one"])
    sel = last_sel(drain(chat.send("hi", sel)), chat, sel)
    backend.enqueue(["two"])
    steps = drain(chat.regenerate(sel))
    assert "2/2" in str(steps[-1][chat.chat_html])
    backend.enqueue([" and more"])
    drain(chat.continue_reply(sel))
    assert context.stores.chats.active_path(sel.chat_id or 0)[-1].content == "two and more"
    backend.enqueue(["I wave back."])
    steps = drain(chat.impersonate(sel))
    assert steps[-1][chat.input_box] == "I wave back."
    assert context.stores.chats.active_path(sel.chat_id or 0)[-1].content == "two and more"


def test_chat_list_rename_duplicate_trash_restore_and_search(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    backend.enqueue(["the zeppelin is late"])
    sel = last_sel(drain(chat.send("Where is the zeppelin?", sel)), chat, sel)
    renamed = chat.rename("Skyport", sel)
    assert ("Skyport" in str(renamed[chat.header])) and renamed[chat.title_box] == "Skyport"
    copy = chat.duplicate(sel)[chat.selection]
    assert copy.chat_id != sel.chat_id
    assert len(chat.chat_choices(copy)) == 2
    trashed = chat.trash(copy)
    assert trashed[chat.selection].chat_id == sel.chat_id
    trash_choices = trashed[chat.trash_list]["choices"]
    assert [value for _, value in trash_choices] == [copy.chat_id]
    restored = chat.restore(copy.chat_id, trashed[chat.selection])
    assert restored[chat.selection].chat_id == copy.chat_id
    found = chat.search("zeppelin", sel)
    assert {value for _, value in found[chat.search_results]["choices"]} == {
        sel.chat_id, copy.chat_id,
    }  # fmt: skip


def test_author_note_and_overrides_reach_the_prompt(
    ui: UiBundle, context: AppContext, backend: SlowBackend
) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context)
    backend.enqueue(["Noted."])
    sel = last_sel(drain(chat.send("Status report?", sel)), chat, sel)  # notes need a user turn
    persona = context.stores.personas.create("Wren", description="A courier.")
    updates = chat.save_settings("[Style: terse]", 1, 1, "Deterministic", "ChatML",
                                 persona.id, sel)  # fmt: skip
    assert "saved" in updates[chat.status]
    meta = context.stores.chats.get_chat(sel.chat_id or 0).metadata
    assert meta["author_note"] == {"text": "[Style: terse]", "depth": 1, "interval": 1}
    assert meta["preset"] == "Deterministic" and meta["template"] == "ChatML"
    shown = chat.show_prompt(sel)
    assert "[Style: terse]" in shown[chat.prompt_view]
    assert "<|im_start|>" in shown[chat.prompt_view] and "format ChatML" in shown[chat.prompt_info]
    assert "Context" in chat.update_meter(sel) and "/ 8,192 tokens" in chat.update_meter(sel)
    cleared = chat.save_settings("", 4, 1, "(auto)", "(auto)", 0, sel)
    assert cleared[chat.preset_choice]["value"] == "(auto)"
    assert "author_note" not in context.stores.chats.get_chat(sel.chat_id or 0).metadata


def test_each_browser_keeps_its_own_selection(ui: UiBundle, context: AppContext) -> None:
    chat = ui.pages.chat
    tab_a = open_first(chat, context, "HESPER")
    tab_b = open_first(chat, context, "Ysolde Marrow")
    again_a = chat.open_chat(tab_a.chat_id, tab_a)
    again_b = chat.open_chat(tab_b.chat_id, tab_b)
    assert again_a[chat.selection].chat_id == tab_a.chat_id
    assert again_b[chat.selection].chat_id == tab_b.chat_id
    assert "HESPER" in again_a[chat.header] and "Ysolde" in again_b[chat.header]
    assert not any(isinstance(v, Selection) for v in vars(chat).values())


def test_reload_restores_the_url_selection(ui: UiBundle, context: AppContext) -> None:
    chat = ui.pages.chat
    sel = open_first(chat, context, "Ysolde Marrow")

    request = SimpleNamespace(query_params={"chat": str(sel.chat_id)})
    updates = chat.on_load(None, request)  # type: ignore[arg-type]
    assert updates[chat.selection].chat_id == sel.chat_id
    remembered = chat.on_load(sel.to_json(), None)  # type: ignore[arg-type]
    assert remembered[chat.selection].chat_id == sel.chat_id


def test_actions_parse_strictly() -> None:
    assert Action.parse("swipe:12:-1") == Action("swipe", 12, -1)
    assert Action.parse("swipe:12:1") == Action("swipe", 12, 1)
    assert Action.parse("edit:3") == Action("edit", 3)
    for bad in ("", "swipe:12", "swipe:x:1", "drop:1", "edit:1:2", None, "edit:-1"):
        assert Action.parse(bad) is None
