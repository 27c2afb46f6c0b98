"""A group chat in Chromium with the real SmolLM2: create a group of the starter cast
(the header and the chat list name the group), give it a lorebook, each member answers
in turn under its own name, one member speaks now, regenerate keeps the speaker, auto
mode goes on without the user until it is switched off."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LONG_PRESET, SHORT_PRESET
from tests.ui.test_browser import CHAT, GENERATION, LAST, choose_preset, send

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]
MEMBERS = ("Ysolde Marrow", "HESPER", "Basil Thorne")
MESSAGES = f"{CHAT} > .msg"
#: Short greedy replies that never end before their first word (no empty reply is dropped).
GROUP_PRESET = "name: Group\ntemperature: 0.0\nmax_new_tokens: 8\nban_eos: true\n"


@pytest.fixture(scope="module")
def live_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live server's data folder, with the group test's preset beside the usual ones."""
    home = tmp_path_factory.mktemp("parlor-live")
    (home / "presets").mkdir()
    for name, text in (("Universal-Light", SHORT_PRESET), ("Long", LONG_PRESET),
                       ("Group", GROUP_PRESET)):  # fmt: skip
        (home / "presets" / f"{name}.yaml").write_text(text)
    return home


def choose(page: Page, field: str, *options: str) -> None:
    """Pick options of a dropdown (several for a multi-select), in order."""
    for option in options:
        page.locator(f"{field} input").click()
        page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def names(page: Page) -> list[str]:
    return page.locator(f"{MESSAGES} .msg-name").all_text_contents()


def settle(page: Page, count: int) -> None:
    """Wait until the chat holds ``count`` messages and nothing streams."""
    expect(page.locator(MESSAGES)).to_have_count(count, timeout=GENERATION)
    expect(page.locator("#parlor-send")).to_be_visible(timeout=GENERATION)
    expect(page.locator("#parlor-live")).to_have_text("", timeout=10_000)


def test_a_group_chat_from_creation_to_auto_mode(page: Page, live_server: str) -> None:
    page.goto(live_server)
    expect(page.locator(MESSAGES)).to_have_count(1)
    page.locator("#parlor-groups").get_by_text("Group chats").click()
    page.locator("#parlor-group-name textarea").fill("Trio")
    choose(page, "#parlor-group-members", *MEMBERS)
    choose(page, "#parlor-group-strategy", "List (everyone in order)")
    page.locator("#parlor-group-create").click()
    expect(page.locator("#parlor-status")).to_contain_text("Group “Trio” created")
    settle(page, 3)
    assert names(page) == list(MEMBERS)  # each member's greeting, in order
    expect(page.locator("#parlor-header .char-name")).to_have_text("Trio")  # not a member
    expect(page.locator("#parlor-chat-list")).to_contain_text("[Trio] Group chat: Trio")
    choose(page, "#parlor-group-lorebooks", "Lantern Reach")
    page.locator("#parlor-group-save").click()
    expect(page.locator("#parlor-status")).to_contain_text("Group “Trio” saved")
    expect(page.locator("#parlor-group-lorebooks")).to_contain_text("Lantern Reach")
    choose_preset(page, "Group")

    send(page, "Good evening, all of you.")
    settle(page, 7)
    assert names(page)[3:] == ["User", *MEMBERS]

    choose(page, "#parlor-speaker", "HESPER")
    page.locator("#parlor-speak").click()
    settle(page, 8)
    expect(page.locator(f"{LAST} .msg-name")).to_have_text("HESPER")
    page.locator("#parlor-regen").click()
    settle(page, 8)
    expect(page.locator(f"{LAST} .msg-name")).to_have_text("HESPER")
    expect(page.locator(f"{LAST} .swipe-count")).to_contain_text("2")

    page.locator("#parlor-auto input").check()
    expect(page.locator(MESSAGES)).to_have_count(11, timeout=GENERATION)  # a round, alone
    page.locator("#parlor-auto input").uncheck()
    expect(page.locator("#parlor-send")).to_be_visible(timeout=GENERATION)
    count = page.locator(MESSAGES).count()
    page.wait_for_timeout(7_000)  # longer than the group's auto-mode delay
    expect(page.locator(MESSAGES)).to_have_count(count)  # switched off: nobody goes on
