"""The whole path in a real browser: type, watch the SmolLM2 reply stream in, stop it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.model]

BOT = "#parlor-chat .message-row.bot-row"


def send(page: Page, text: str) -> None:
    box = page.locator("#parlor-input textarea")
    box.fill(text)
    box.press("Enter")


def test_send_streams_a_reply_and_stop_keeps_the_partial_text(
    page: Page, parlor_server: str
) -> None:
    page.goto(parlor_server)
    expect(page.locator("#parlor-model")).to_contain_text("Q4_1")
    expect(page.locator(BOT)).to_have_count(1)  # the character's greeting

    send(page, "Hello! What is the capital of France?")
    expect(page.locator("#parlor-status")).to_contain_text("tokens/s", timeout=90_000)
    expect(page.locator("#parlor-status")).to_contain_text("complete")
    reply = page.locator(BOT).nth(1)
    assert reply.inner_text().strip()
    expect(page.locator("#parlor-chat .message-row.user-row")).to_have_count(1)

    # A long reply: stop it while it streams; the partial text stays.
    send(page, "Tell me a very long story about a dragon and a knight, in many chapters.")
    streaming = page.locator(BOT).nth(2)
    expect(streaming).not_to_have_text("", timeout=90_000)
    page.locator("#parlor-stop").click()
    expect(page.locator("#parlor-status")).to_contain_text("stopped", timeout=30_000)
    kept = streaming.inner_text().strip()
    assert kept
    page.wait_for_timeout(500)
    assert page.locator(BOT).nth(2).inner_text().strip() == kept


def test_escape_stops_generation(page: Page, parlor_server: str) -> None:
    page.goto(parlor_server)
    send(page, "Write a very long poem about the sea, with twenty verses.")
    expect(page.locator(BOT).nth(1)).not_to_have_text("", timeout=90_000)
    page.keyboard.press("Escape")
    expect(page.locator("#parlor-status")).to_contain_text("stopped", timeout=30_000)
