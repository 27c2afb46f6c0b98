"""The whole app in Chromium with the real SmolLM2 model (replies kept short by a preset).

One server serves the module (see ``live_server`` in conftest.py); each test works with
its own character, so the tests do not depend on each other's chats.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from tests.servers import LLAMA_SERVER_KEY
from tests.ui.conftest import card_file

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

CHAT = "#parlor-chat .chat"
LAST = f"{CHAT} > .msg:last-child"
GENERATION = 120_000


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def import_cards(page: Page, *paths: Path) -> Locator:
    open_tab(page, "Characters")
    page.locator("#parlor-import input[type=file]").set_input_files([str(p) for p in paths])
    report = page.locator("#parlor-import-report")
    expect(report).to_contain_text("Import", timeout=30_000)
    return report


def send(page: Page, text: str) -> None:
    box = page.locator("#parlor-input textarea")
    box.fill(text)
    box.press("Enter")


def wait_done(page: Page, word: str = "complete") -> None:
    expect(page.locator("#parlor-status")).to_contain_text(word, timeout=GENERATION)
    expect(page.locator("#parlor-live")).to_have_text("", timeout=10_000)


def choose_preset(page: Page, name: str) -> None:
    accordion = page.locator("#parlor-note")
    if not page.locator("#parlor-chat-preset").is_visible():
        accordion.get_by_text("Author's note and chat settings").click()
    page.locator("#parlor-chat-preset input").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.locator("#parlor-note-save").click()
    expect(page.locator("#parlor-status")).to_contain_text("Chat settings saved")


def swipe_count(page: Page) -> Locator:
    return page.locator(f"{LAST} .swipe-count")


def stream_then_stop(page: Page, prompt: str, stop: str) -> str:
    """Send with the long preset, see the reply grow, stop it; return the text seen."""
    send(page, prompt)
    streaming = page.locator("#parlor-live .msg-streaming .msg-body")
    expect(streaming).not_to_have_text("", timeout=GENERATION)
    first = streaming.inner_text()
    page.wait_for_function(
        "n => (document.querySelector('#parlor-live .msg-streaming .msg-body')"
        "?.innerText.length ?? 0) > n",
        arg=len(first), timeout=GENERATION,
    )  # fmt: skip
    assert "Generating" in page.locator("#parlor-status").inner_text()
    seen = streaming.inner_text()
    if stop == "button":
        page.locator("#parlor-stop").click()
    else:
        page.keyboard.press("Escape")
    wait_done(page, "stopped")
    kept = page.locator(f"{LAST} .msg-body").inner_text()
    assert kept.startswith(seen[: max(1, len(seen) - 8)].strip()[:20])
    expect(page.locator(LAST)).to_have_class(re.compile("msg-stopped"))
    return kept


def test_import_chat_stream_stop_swipe_edit_branch_and_reload(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    page.goto(live_server)
    import_and_open(page, tmp_path)
    send_and_inspect(page)
    choose_preset(page, "Long")
    stopped = stream_then_stop(page, "Tell me a long story about the sea.", "button")
    stream_then_stop(page, "Another story, please.", "escape")
    choose_preset(page, "(auto)")
    swipe_twice_and_navigate(page)
    edit_in_place_and_as_swipe(page)
    original = page.url
    branch_and_reload(page, original)
    page.goto(original)
    expect(swipe_count(page)).to_have_text("4/4")
    expect(page.locator(f"{LAST} .msg-body")).to_contain_text("An edited reply.")
    expect(page.locator(f"{CHAT} > .msg-user").last).to_contain_text("Another tale, please.")
    expect(page.locator(f"{CHAT} > .msg.msg-stopped .msg-body").first).to_have_text(stopped)
    page.locator("#parlor-show-prompt").click()
    expect(page.locator("#parlor-prompt-text textarea")).to_have_value(
        re.compile("keeps a lighthouse")
    )


def import_and_open(page: Page, tmp_path: Path) -> None:
    """Import a card (and a broken file) by the file picker, start a chat, swipe greetings."""
    mira = card_file(
        tmp_path, "Mira", description="Mira keeps a lighthouse and answers briefly.",
        first_mes="Hello! *waves* Welcome to the lighthouse.",
        alternate_greetings=["Oh, a visitor!", "Storm's coming. Come in."],
    )  # fmt: skip
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    report = import_cards(page, mira, broken)
    expect(report).to_contain_text("✓ mira.json: imported Mira")
    expect(report).to_contain_text("✗ broken.json")

    page.locator("#parlor-card-chat").click()
    expect(page.locator(f"{CHAT} > .msg")).to_have_count(1)
    expect(page.locator(LAST)).to_contain_text("Welcome to the lighthouse")
    expect(swipe_count(page)).to_have_text("1/3")
    page.locator(f"{LAST} .swipe-next").click()
    expect(swipe_count(page)).to_have_text("2/3")
    expect(page.locator(f"{LAST} .msg-body")).to_have_text("Oh, a visitor!")
    page.locator(f"{LAST} .swipe-prev").click()
    expect(swipe_count(page)).to_have_text("1/3")
    assert re.search(r"[?&]chat=\d+", page.url)


def send_and_inspect(page: Page) -> None:
    """Send; the reply streams in; its details and the token meter are shown."""
    send(page, "Hi Mira!")
    expect(page.locator("#parlor-live .msg-pending")).to_contain_text("Hi Mira!")
    wait_done(page)
    expect(page.locator("#parlor-status")).to_contain_text("tokens/s")
    expect(page.locator(f"{CHAT} > .msg")).to_have_count(3)
    assert page.locator(f"{LAST} .msg-body").inner_text().strip()
    expect(page.locator("#parlor-meter")).to_contain_text("/ 2,048 tokens")
    page.locator(f"{LAST} .msg-info summary").click()
    for part in ("tokens/s", "seed", "preset Universal-Light", "complete"):
        expect(page.locator(f"{LAST} .msg-info")).to_contain_text(part)


def swipe_twice_and_navigate(page: Page) -> None:
    """Two new alternatives past the last; back and forth by button and arrow keys."""
    page.locator(f"{LAST} .swipe-next").click()
    expect(swipe_count(page)).to_have_text("2/2", timeout=GENERATION)
    page.locator(f"{LAST} .swipe-next").click()
    expect(swipe_count(page)).to_have_text("3/3", timeout=GENERATION)
    third = page.locator(f"{LAST} .msg-body").inner_text()
    page.locator(f"{LAST} .swipe-prev").click()
    expect(swipe_count(page)).to_have_text("2/3")
    page.locator("#parlor-header").click()  # keyboard focus off the message box
    page.keyboard.press("ArrowRight")
    expect(swipe_count(page)).to_have_text("3/3")
    expect(page.locator(f"{LAST} .msg-body")).to_have_text(third)
    page.keyboard.press("ArrowLeft")
    expect(swipe_count(page)).to_have_text("2/3")
    page.keyboard.press("ArrowLeft")
    expect(swipe_count(page)).to_have_text("1/3")
    expect(page.locator(LAST)).to_have_class(re.compile("msg-stopped"))


def edit_in_place_and_as_swipe(page: Page) -> None:
    """Edit the user's last message in place, and the reply as a new swipe."""
    user = page.locator(f"{CHAT} > .msg-user").last
    expect(user).to_contain_text("Another story, please.")
    user.locator("[data-act=edit]").click()
    expect(page.locator("#parlor-edit-box textarea")).to_have_value("Another story, please.")
    page.locator("#parlor-edit-box textarea").fill("Another tale, please.")
    page.locator("#parlor-edit-save").click()
    expect(user).to_contain_text("Another tale, please.")
    page.locator(f"{LAST} [data-act=edit]").click()
    page.locator("#parlor-edit-box textarea").fill('An *edited* reply. "Quoted."')
    page.locator("#parlor-edit-swipe").click()
    expect(swipe_count(page)).to_have_text("4/4")
    expect(page.locator(f"{LAST} .msg-body em")).to_have_text("edited")
    expect(page.locator(f"{LAST} .msg-body .rp-speech")).to_have_text('"Quoted."')


def branch_and_reload(page: Page, original: str) -> None:
    """Branch from the first user message; a reload shows the branch again."""
    first_user = page.locator(f"{CHAT} > .msg-user").first
    first_user.locator("[data-act=branch]").click()
    expect(page.locator("#parlor-status")).to_contain_text("Branched into")
    expect(page.locator(f"{CHAT} > .msg")).to_have_count(2)
    expect(page.locator("#parlor-chat-list label")).to_have_count(2)
    branch_url = page.url
    assert branch_url != original
    page.reload()
    expect(page.locator(f"{CHAT} > .msg")).to_have_count(2)
    expect(page.locator(LAST)).to_contain_text("Hi Mira!")
    assert page.url == branch_url


def test_card_payloads_run_nothing(page: Page, live_server: str, tmp_path: Path) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    payload = (
        "Hi! <script>window.__xss1 = 1; alert('script')</script>\n\n"
        '<img src="x" onerror="window.__xss2 = 1; alert(\'img\')">\n\n'
        "[click me](javascript:window.__xss3=1)\n\n"
        '<a id="rawlink" href="javascript:window.__xss4=1;alert(4)">raw link</a>\n\n'
        '<svg onload="window.__xss5=1"></svg><iframe src="javascript:alert(6)"></iframe>\n\n'
        '<p style="position:fixed;inset:0" onmouseover="window.__xss6=1">cover</p>'
    )
    book = {"entries": [{"keys": ["x"], "content": payload, "enabled": True,
                         "insertion_order": 1, "extensions": {}}], "extensions": {}}  # fmt: skip
    evil = card_file(
        tmp_path,
        "Evil",
        first_mes=payload,
        description=payload,
        character_book=book,
    )
    data = json.loads(evil.read_text())
    data["data"]["name"] = 'Evil <img src=x onerror="window.__xss7=1">'
    evil.write_text(json.dumps(data))
    page.goto(live_server)
    expect(import_cards(page, evil)).to_contain_text("imported Evil")
    expect(page.locator("#parlor-grid")).to_contain_text('Evil <img src=x onerror="window')
    page.locator("#parlor-card-chat").click()
    body = page.locator(f"{LAST} .msg-body")
    expect(body).to_contain_text("raw link")
    body.get_by_text("click me").click()
    body.get_by_text("raw link").click()
    body.get_by_text("cover").hover()
    open_tab(page, "Lorebooks")
    expect(page.locator("#parlor-entries")).to_contain_text("Hi!")
    open_tab(page, "Chat")
    page.wait_for_timeout(1000)
    flags = page.evaluate("() => [1,2,3,4,5,6,7].map(i => window['__xss' + i] ?? null)")
    assert flags == [None] * 7
    assert dialogs == []
    assert page.locator("#parlor-chat script, #parlor-chat iframe, #parlor-chat svg").count() == 0
    assert (
        page.locator("#parlor-chat [onerror], #parlor-chat [onload], [style*=fixed]").count() == 0
    )
    hrefs = page.evaluate("() => [...document.querySelectorAll('#parlor-chat a')].map(a => a.href)")
    assert not any(h.startswith("javascript:") for h in hrefs)
    assert page.url.startswith(live_server)  # no link navigated anywhere


def test_two_tabs_keep_their_own_chat_across_reloads(page: Page, live_server: str) -> None:
    other = page.context.new_page()
    for tab, name in ((page, "HESPER"), (other, "Ysolde Marrow")):
        tab.goto(live_server)
        tab.locator("#parlor-character input").click()
        tab.get_by_role("option", name=name, exact=True).click()
        expect(tab.locator("#parlor-header")).to_contain_text(name)
        expect(tab.locator(f"{CHAT} > .msg")).not_to_have_count(0)
    box = page.locator("#parlor-input textarea")
    box.press_sequentially("one")
    box.press("Shift+Enter")
    box.press_sequentially("two")
    expect(box).to_have_value("one\ntwo")  # Shift+Enter is a new line, not a send
    expect(page.locator("#parlor-live")).to_have_text("")
    urls = {name: tab.url for tab, name in ((page, "HESPER"), (other, "Ysolde Marrow"))}
    assert urls["HESPER"] != urls["Ysolde Marrow"]
    for tab, name in ((other, "Ysolde Marrow"), (page, "HESPER")):
        tab.reload()
        expect(tab.locator("#parlor-header")).to_contain_text(name)
        expect(tab.locator(f"{CHAT} > .msg")).not_to_have_count(0)
        assert tab.url == urls[name]
    other.close()


def test_chat_on_a_remote_server_chosen_on_the_models_page(
    page: Page, live_server: str, llama_server: str
) -> None:
    page.goto(live_server)
    open_tab(page, "Models")
    page.get_by_text("Remote server (OpenAI-compatible)").click()
    # The accordion's fields mount as it opens: typing before the last of them is there
    # could land in a field about to be drawn again (once, the URL arrived empty).
    expect(page.locator("#parlor-remote-connect")).to_be_visible()
    url, key = page.locator("#parlor-remote-url textarea"), page.locator("#parlor-remote-key input")
    url.fill(llama_server)
    key.fill(LLAMA_SERVER_KEY)
    expect(url).to_have_value(llama_server)
    expect(key).to_have_value(LLAMA_SERVER_KEY)
    page.locator("#parlor-remote-connect").click()
    expect(page.locator("#parlor-remote-status")).to_contain_text("Connected", timeout=60_000)
    expect(page.locator("#parlor-model")).to_contain_text("Remote:")
    expect(page.locator("#parlor-model")).to_contain_text(f"at {llama_server}/v1")

    open_tab(page, "Chat")
    page.locator("#parlor-character input").click()
    page.get_by_role("option", name="Basil Thorne", exact=True).click()
    expect(page.locator("#parlor-header")).to_contain_text("Basil Thorne")
    choose_preset(page, "Universal-Light")  # the live server's 16-token replies
    send(page, "Good morning, Mr Thorne!")
    wait_done(page)
    expect(page.locator(f"{CHAT} > .msg-user").last).to_contain_text("Good morning")
    assert page.locator(f"{LAST} .msg-body").inner_text().strip()
    page.locator(f"{LAST} .msg-info summary").click()
    expect(page.locator(f"{LAST} .msg-info")).to_contain_text("complete")

    open_tab(page, "Models")  # back to the local model for whatever runs next
    page.locator("#parlor-model-load").click()
    expect(page.locator("#parlor-model")).to_contain_text("GPU layers", timeout=60_000)
