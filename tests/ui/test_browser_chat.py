"""The chat page in Chromium with the real SmolLM2 model: what a new user meets first.

One server serves the module (``live_server``); the page fixture fails a test on any
Gradio error toast, page error or server traceback.  The first test must run first: it
is the one that sees a fresh data folder.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.test_browser import (
    CHAT,
    GENERATION,
    LAST,
    choose_preset,
    open_tab,
    send,
    wait_done,
)

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]
STATUS = "#parlor-status"


def pick(page: Page, name: str) -> None:
    page.locator("#parlor-character input").click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(page.locator("#parlor-header")).to_contain_text(name)


def chats_of(home: Path, name: str) -> int:
    with sqlite3.connect(home / "parlor.db") as db:
        row = db.execute(
            "SELECT count(*) FROM chats JOIN chat_characters ON chat_id = chats.id "
            "JOIN characters ON characters.id = character_id "
            "WHERE characters.name = ? AND chats.deleted_at IS NULL",
            (name,),
        ).fetchone()
    return int(row[0])


def test_a_new_user_types_at_once_and_new_chat_makes_no_twin(
    page: Page, live_server: str, live_home: Path
) -> None:
    page.goto(live_server)
    header = page.locator("#parlor-header")
    expect(page.locator(f"{CHAT} > .msg")).to_have_count(1)  # the greeting, in a chat
    name = header.locator(".char-name").inner_text()
    assert page.locator("#parlor-character input").input_value() == name
    send(page, "Hello! Who are you?")
    wait_done(page)
    expect(page.locator(f"{CHAT} > .msg")).to_have_count(3)
    pick(page, "HESPER")
    page.locator("#parlor-new-chat").click()
    expect(page.locator(STATUS)).to_contain_text("new")
    assert chats_of(live_home, "HESPER") == 1


def test_send_becomes_stop_and_a_message_sent_meanwhile_is_queued_not_lost(
    page: Page, live_server: str
) -> None:
    page.goto(live_server)
    pick(page, "Ysolde Marrow")
    choose_preset(page, "Long")
    send(page, "Tell me about the lighthouse.")
    expect(page.locator("#parlor-stop")).to_be_visible()
    expect(page.locator("#parlor-send")).to_be_hidden()
    streaming = page.locator("#parlor-live .msg-streaming .msg-body")
    expect(streaming).not_to_have_text("", timeout=GENERATION)
    send(page, "And the keeper?")
    expect(page.locator(STATUS)).to_contain_text("Queued")
    expect(page.locator("#parlor-input textarea")).to_have_value("")
    page.locator("#parlor-stop").click()  # the first reply ends; the queued one starts
    expect(page.locator("#parlor-live .msg-pending")).to_contain_text(
        "And the keeper?", timeout=GENERATION
    )
    expect(streaming).not_to_have_text("", timeout=GENERATION)
    page.locator("#parlor-stop").click()
    wait_done(page, "stopped")
    users = page.locator(f"{CHAT} > .msg-user")
    expect(users).to_have_count(2)
    expect(users.last).to_contain_text("And the keeper?")
    expect(page.locator("#parlor-send")).to_be_visible()
    choose_preset(page, "(auto)")


def test_regenerate_and_a_new_swipe_fill_the_status_line(page: Page, live_server: str) -> None:
    page.goto(live_server)
    pick(page, "Basil Thorne")
    send(page, "What is in the cabinet?")
    wait_done(page)
    page.locator("#parlor-regen").click()
    wait_done(page)
    expect(page.locator(STATUS)).to_contain_text("tokens/s")
    expect(page.locator(f"{LAST} .swipe-count")).to_have_text("2/2")
    page.locator(f"{LAST} .swipe-next").click()
    wait_done(page)
    expect(page.locator(STATUS)).to_contain_text("tokens/s")
    expect(page.locator(f"{LAST} .swipe-count")).to_have_text("3/3")


def test_a_search_hit_opens_its_chat_at_the_message(page: Page, live_server: str) -> None:
    page.goto(live_server)
    pick(page, "HESPER")
    send(page, "Remember the word quillfeather.")
    wait_done(page)
    pick(page, "Basil Thorne")
    page.get_by_text("Search chats").click()
    box = page.locator("#parlor-search-box textarea, #parlor-search-box input").first
    box.fill("quillfeather")
    box.press("Enter")  # all chats by default, not only Basil's
    hit = page.locator("#parlor-hits label").filter(has_text="Remember the word")
    expect(hit).to_have_count(1)
    hit.click()
    expect(page.locator("#parlor-header")).to_contain_text("HESPER")
    focused = page.locator(f"{CHAT} > .msg.msg-focus")
    expect(focused).to_contain_text("Remember the word quillfeather")
    expect(focused).to_be_in_viewport()


def test_chats_import_and_export_on_the_chat_page(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    header = {"user_name": "You", "character_name": "unused", "chat_metadata": {
        "note_prompt": "[It is raining.]", "note_depth": 2}}  # fmt: skip
    messages = [
        {"name": "Basil Thorne", "is_user": False, "mes": "Tea, assistant?"},
        {"name": "You", "is_user": True, "mes": "Two sugars."},
    ]
    path = tmp_path / "Teatime.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in (header, *messages)) + "\n")
    page.goto(live_server)
    pick(page, "Basil Thorne")
    page.get_by_text("Manage chat").click()
    page.locator("#parlor-import-chats input[type=file]").set_input_files([str(path)])
    expect(page.locator("#parlor-import-chats-report")).to_contain_text("imported “Teatime”")
    page.locator("#parlor-chat-list label").filter(has_text="Teatime").click()
    expect(page.locator(LAST)).to_contain_text("Two sugars.")
    page.get_by_text("Author's note and chat settings").click()
    expect(page.locator("#parlor-note-text textarea")).to_have_value("[It is raining.]")
    page.locator("#parlor-export-chat").click()
    link = page.locator("#parlor-export-file a[download]").first
    expect(link).to_have_attribute("download", re.compile(r"Teatime.*\.jsonl"))
    with page.expect_download() as download:
        link.click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert [json.loads(line)["mes"] for line in lines[1:]] == ["Tea, assistant?", "Two sugars."]
    assert json.loads(lines[0])["chat_metadata"]["note_prompt"] == "[It is raining.]"
    open_tab(page, "Chat")
