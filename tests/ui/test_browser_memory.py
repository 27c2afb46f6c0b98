"""The Memory panel in Chromium, on the real SmolLM2 and the real embedder.

A 60-message chat with a planted fact is imported (``parlor import`` embeds it) into the
data folder of a running server; a question about the fact recalls it into the prompt,
the panel lists what was recalled, and the chat's switch turns memory off.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.servers import run_parlor
from tests.ui.test_browser import send, wait_done

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]
FACT = "My grey horse is named Thunderbolt and he hates the rain."
PAST_EVENTS = re.compile("Past events")


def import_long_chat(home: Path, folder: Path) -> int:
    """Import a 60-message chat with Ysolde (FACT at message 3); returns its id."""
    header = {"user_name": "User", "character_name": "Ysolde Marrow", "chat_metadata": {}}
    topics = ("the tides", "the lamps", "the ledger", "the gulls", "the old pier", "the bells")
    lines = [header] + [
        {
            "name": "User" if i % 2 else "Ysolde Marrow",
            "is_user": bool(i % 2),
            "send_date": "2025-01-01T10:00:00.000Z",
            "mes": FACT if i == 3 else f"We talked of {topics[i % 6]} again. " * 12,
            "extra": {},
        }
        for i in range(60)
    ]
    path = folder / "Long talk.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    done = run_parlor(home, "import", str(path))
    assert done.returncode == 0 and "memory: embedded 60 messages" in done.stdout, done.stderr
    with sqlite3.connect(home / "parlor.db") as db:
        row = db.execute("SELECT id FROM chats WHERE title = 'Long talk'").fetchone()
    return int(row[0])


def test_the_memory_panel_shows_recall_and_switches_it_off(
    page: Page, live_server: str, live_home: Path, tmp_path: Path
) -> None:
    chat_id = import_long_chat(live_home, tmp_path)
    page.goto(f"{live_server}/?chat={chat_id}")
    expect(page.locator("#parlor-header")).to_contain_text("Ysolde")
    page.locator("#parlor-memory").get_by_text("Memory", exact=True).click()
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
