"""The UI login in Chromium (issue 19, item 1): a wrong password is refused, the right one
opens the chat, and the page works behind the login with no error toast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.servers import serve_parlor

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "tea and biscuits"


@pytest.fixture(scope="module")
def live_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of this module's server (shadows the shared one)."""
    return tmp_path_factory.mktemp("parlor-login")


@pytest.fixture(scope="module")
def live_server(live_home: Path, live_log: Path) -> Iterator[str]:
    """A server that wants the UI login (no model: only the pages matter here)."""
    extra = ["--ui-password", PASSWORD, "--model", "/nonexistent/model.gguf", "--threads", "1"]
    yield from serve_parlor(live_home, extra, live_log)


def log_in(page: Page, password: str) -> None:
    page.get_by_label("username").fill("parlor")
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def test_the_ui_opens_only_after_the_login(page: Page, live_server: str) -> None:
    page.goto(live_server)
    expect(page.get_by_role("button", name="Login")).to_be_visible()
    assert page.locator("#parlor-input").count() == 0
    log_in(page, "wrong password")
    expect(page.get_by_text("Incorrect")).to_be_visible()
    assert page.locator("#parlor-input").count() == 0
    log_in(page, PASSWORD)
    expect(page.locator("#parlor-input textarea")).to_be_visible(timeout=60_000)
    expect(page.locator("#parlor-header")).to_contain_text("·")  # a chat is open
    page.get_by_role("tab", name="Characters", exact=True).click()
    expect(page.locator("#parlor-grid")).to_contain_text("HESPER")
