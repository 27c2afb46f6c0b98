"""The Memory panel in Chromium, on the real SmolLM2 and the real embedder.

A 60-message chat with a planted fact is imported (``parlor import`` embeds it) into the
data folder of a running server; a question about the fact recalls it into the prompt,
the panel lists what was recalled, and the chat's switch turns memory off.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.servers import run_parlor
from tests.ui.test_browser import send, wait_done

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]
FACT = "My grey horse is named Thunderbolt and he hates the rain."
PAST_EVENTS = re.compile("Past events")


def import_ysolde_chat(
    home: Path, folder: Path, title: str, texts: Sequence[str], extras: Mapping[int, Any]
) -> tuple[int, str]:
    """Import a SillyTavern chat with Ysolde of ``texts`` (hers first, then turn about;
    ``extras``: messages' ``extra`` by index); returns its id and the command's output."""
    header = {"user_name": "User", "character_name": "Ysolde Marrow", "chat_metadata": {}}
    lines = [header] + [
        {
            "name": "User" if i % 2 else "Ysolde Marrow",
            "is_user": bool(i % 2),
            "send_date": "2025-01-01T10:00:00.000Z",
            "mes": text,
            "extra": extras.get(i, {}),
        }
        for i, text in enumerate(texts)
    ]
    path = folder / f"{title}.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    done = run_parlor(home, "import", str(path))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(home / "parlor.db") as db:
        row = db.execute("SELECT id FROM chats WHERE title = ?", (title,)).fetchone()
    return int(row[0]), done.stdout


def import_long_chat(home: Path, folder: Path) -> int:
    """Import a 60-message chat with Ysolde (FACT at message 3); returns its id."""
    topics = ("the tides", "the lamps", "the ledger", "the gulls", "the old pier", "the bells")
    texts = [FACT if i == 3 else f"We talked of {topics[i % 6]} again. " * 12 for i in range(60)]
    chat_id, output = import_ysolde_chat(home, folder, "Long talk", texts, {})
    assert "memory: embedded 60 messages" in output
    return chat_id


def open_memory_panel(page: Page, server: str, chat_id: int) -> None:
    page.goto(f"{server}/?chat={chat_id}")
    expect(page.locator("#parlor-header")).to_contain_text("Ysolde")
    page.locator("#parlor-memory").get_by_text("Memory", exact=True).click()


def test_the_memory_panel_shows_recall_and_switches_it_off(
    page: Page, live_server: str, live_home: Path, tmp_path: Path
) -> None:
    open_memory_panel(page, live_server, import_long_chat(live_home, tmp_path))
    expect(page.locator("#parlor-memory-index")).to_contain_text("chunks of 60 messages")
    send(page, "What is my horse called?")
    wait_done(page)
    recalled = page.locator("#parlor-memory-recalled")
    expect(recalled).to_contain_text("Thunderbolt", timeout=30_000)
    page.locator("#parlor-show-prompt").click()
    prompt = page.locator("#parlor-prompt-text textarea")
    expect(prompt).to_have_value(PAST_EVENTS, timeout=30_000)
    page.locator("#parlor-fact-text textarea").fill("The lighthouse lamp is green.")
    page.locator("#parlor-fact-add").click()
    expect(page.locator("#parlor-status")).to_contain_text("Fact pinned")
    expect(page.locator("#parlor-memory-summaries")).to_contain_text("lamp is green")
    page.locator("#parlor-show-prompt").click()
    expect(prompt).to_have_value(re.compile("Facts to remember:\n- The lighthouse lamp"))
    page.locator("#parlor-memory-on input").uncheck()
    page.locator("#parlor-memory-save").click()
    expect(page.locator("#parlor-status")).to_contain_text("Memory settings saved")
    expect(recalled).to_contain_text("Memory is off")
    page.locator("#parlor-show-prompt").click()
    expect(prompt).not_to_have_value(PAST_EVENTS, timeout=30_000)


SUMMARY = "Ysolde and the traveller counted the harbour ledger twice."


def import_summarized_chat(home: Path, folder: Path) -> int:
    """Import a 12-message chat too long for the context whose 9th message carries
    SillyTavern's Summarize data (``extra.memory``): it becomes the chat's story so far."""
    texts = [f"Line {i} about the harbour ledger. " * 40 for i in range(12)]
    return import_ysolde_chat(home, folder, "Ledger", texts, {8: {"memory": SUMMARY}})[0]


def pick_summary(page: Page, starts: str) -> None:
    page.locator("#parlor-summary-choice input").click()
    page.get_by_role("option", name=re.compile(rf"^#\d+ .*: {re.escape(starts)}")).click()


def test_a_summary_is_edited_pinned_and_deleted_in_the_memory_panel(
    page: Page, live_server: str, live_home: Path, tmp_path: Path
) -> None:
    open_memory_panel(page, live_server, import_summarized_chat(live_home, tmp_path))
    listing = page.locator("#parlor-memory-summaries")
    expect(listing).to_contain_text("counted the harbour ledger twice")
    status = page.locator("#parlor-status")
    prompt = page.locator("#parlor-prompt-text textarea")

    pick_summary(page, "Ysolde and the traveller")
    editor = page.locator("#parlor-summary-text textarea")
    expect(editor).to_have_value(SUMMARY)
    editor.fill("Ysolde found a forged page in the harbour ledger.")
    page.locator("#parlor-summary-save").click()
    expect(status).to_contain_text("Summary saved")
    expect(listing).to_contain_text("forged page")
    expect(listing).not_to_contain_text("counted the harbour ledger")
    page.locator("#parlor-show-prompt").click()
    expect(prompt).to_have_value(re.compile("forged page in the harbour ledger"), timeout=30_000)

    pick_summary(page, "Ysolde found a forged page")
    page.locator("#parlor-summary-pin").click()
    expect(status).to_contain_text("Pinned.")
    expect(listing).to_contain_text("pinned")
    # the pick stays, with its text: what is shown picked is what the buttons act on
    expect(page.locator("#parlor-summary-choice input")).to_have_value(re.compile("forged page"))
    expect(editor).to_have_value("Ysolde found a forged page in the harbour ledger.")
    page.locator("#parlor-memory-save").click()
    expect(status).to_contain_text("Memory settings saved")
    expect(editor).to_have_value("Ysolde found a forged page in the harbour ledger.")

    pick_summary(page, "Ysolde found a forged page")
    page.locator("#parlor-summary-delete").click()
    expect(status).to_contain_text("Deleted.")
    expect(listing).to_contain_text("No summaries yet")
    expect(page.locator("#parlor-summary-choice input")).to_have_value("")
    page.locator("#parlor-summary-pin").click()  # nothing picked: nothing happens
    page.locator("#parlor-show-prompt").click()
    expect(prompt).not_to_have_value(re.compile("forged page"), timeout=30_000)
