"""The pages other than Chat in Chromium, against a live server (the bundled model).

The shared ``page`` fixture fails a test on any Gradio error toast, page error or server
traceback.  No timing thresholds: waits are generous timeouts only.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from app.cards.model import CharacterCard
from app.cards.write import write_png

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

IMPORT_TIMEOUT = 300_000


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def stored_entries(home: Path) -> dict[int, str]:
    """Lorebook entry id -> content, read straight from the live server's database."""
    db = sqlite3.connect(f"file:{home / 'parlor.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, data FROM lorebook_entries").fetchall()
    finally:
        db.close()
    return {row[0]: json.loads(row[1]).get("content", "") for row in rows}


def huge_card(folder: Path) -> Path:
    """A PNG card of more than 20 MB: a 2600 x 2600 avatar of random pixels."""
    side = 2600
    avatar = Image.frombytes("RGBA", (side, side), os.urandom(side * side * 4))
    raw = folder / "avatar.png"
    avatar.save(raw, format="PNG", compress_level=1)
    card = CharacterCard.create("Huge Harriet", avatar=raw.read_bytes(), first_mes="Hello.")
    path = folder / "huge-harriet.png"
    path.write_bytes(write_png(card))
    assert path.stat().st_size > 20 * 1024 * 1024
    return path


def test_a_lorebook_entry_saved_at_once_after_picking_it_is_stored(
    page: Page, live_server: str, live_home: Path
) -> None:
    page.goto(live_server)
    open_tab(page, "Lorebooks")
    picker = page.locator("#parlor-entry input")
    expect(picker).not_to_have_value("", timeout=60_000)
    box = page.locator("#parlor-entry-content textarea")
    for number, text in ((3, "The library floods at dusk."), (2, "Lantern Reach never sleeps.")):
        picker.click()
        page.get_by_role("option").nth(number - 1).click()
        box.fill(text)  # at once: no wait for anything after the pick
        page.locator("#parlor-entry-save").click()
        expect(page.locator("#parlor-book-status")).to_contain_text("Entry saved")
        expect(box).to_have_value(text)
        assert text in stored_entries(live_home).values()


def test_a_png_card_over_20_mb_imports_through_the_page(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    card = huge_card(tmp_path)
    page.goto(live_server)
    open_tab(page, "Characters")
    upload = page.locator("#parlor-import")
    expect(upload).to_contain_text("up to 64 MB each")  # the limit is stated up front
    upload.locator("input[type=file]").set_input_files(str(card))
    report = page.locator("#parlor-import-report")
    expect(report).to_contain_text("imported Huge Harriet", timeout=IMPORT_TIMEOUT)
    expect(page.locator("#parlor-grid .card-tile.selected")).to_contain_text("Huge Harriet")
    expect(page.locator("#parlor-card-name input")).to_have_value("Huge Harriet")
    preview = page.locator("#parlor-avatar img")
    expect(preview).to_be_visible()
    page.wait_for_function(
        "() => (document.querySelector('#parlor-avatar img')?.naturalWidth ?? 0) > 0"
    )
    assert preview.evaluate("img => img.naturalWidth") <= 512  # never the full-size image


def test_presets_import_several_files_with_a_line_each(
    page: Page, live_server: str, tmp_path: Path, sillytavern_dir: Path
) -> None:
    files = []
    for part in ("textgen/Universal-Creative.json", "instruct/GLM-4.json"):
        files.append(tmp_path / Path(part).name)
        shutil.copy(sillytavern_dir / part, files[-1])
    page.goto(live_server)
    open_tab(page, "Presets & templates")
    page.locator("#parlor-preset-import input[type=file]").set_input_files([str(f) for f in files])
    report = page.locator("#parlor-import-log")
    expect(report).to_contain_text(
        "✓ GLM-4.json: imported prompt format GLM-4", timeout=IMPORT_TIMEOUT
    )
    expect(report).to_contain_text(
        "✓ Universal-Creative.json: imported sampler preset Universal-Creative"
    )
    expect(page.locator("#parlor-format input")).to_have_value("GLM-4")


def test_every_other_page_opens_and_saves_without_an_error(page: Page, live_server: str) -> None:
    page.goto(live_server)
    open_tab(page, "Personas")
    page.locator("#parlor-persona-new").click()
    page.locator("#parlor-persona-name input").fill("Wren")
    page.locator("#parlor-persona-save").click()
    expect(page.locator("#parlor-persona-status")).to_contain_text("Saved")
    page.locator("#parlor-persona-name input").fill("")
    page.locator("#parlor-persona-save").click()
    expect(page.locator("#parlor-persona-status")).to_contain_text("needs a name")
    open_tab(page, "Models")
    expect(page.locator("#parlor-model")).to_contain_text("Model:")
    page.locator("#parlor-model-rescan").click()
    expect(page.locator("#parlor-models")).to_contain_text("Q4_1")
    open_tab(page, "Settings")
    expect(page.locator("#parlor-settings")).to_contain_text("n_ctx")
    open_tab(page, "Characters")
    expect(page.locator("#parlor-grid")).to_contain_text("HESPER")
