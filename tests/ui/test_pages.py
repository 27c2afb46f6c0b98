"""Characters, Personas, Lorebooks, Presets, Models and Settings pages, handlers called directly."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image

from app.cards import read_card
from app.cards.model import CharacterCard
from app.cards.write import write_png
from app.config_file import validate_config
from app.context import AppContext, build_context
from app.engine.models import bundled_model_path
from app.engine.remote import RemoteBackend
from app.errors import InputError
from app.settings import Settings
from app.ui.app import UiBundle, build_ui
from app.ui.images import PREVIEW_PX
from app.ui.library_page import join_greetings, split_greetings, split_tags
from app.ui.lorebooks_page import EDITOR_KEYS, entry_edit
from tests.paths import REPO_ROOT
from tests.servers import LLAMA_SERVER_KEY
from tests.ui.conftest import card_file

#: The pages that must hold services only (no repository, no ``stores``).
SERVICE_PAGES = (
    "library_page",
    "personas_page",
    "lorebooks_page",
    "presets_page",
    "models_page",
    "remote_panel",
    "settings_page",
    "images",
)


class _NoProgress(gr.Progress):
    """A progress callback that records its descriptions (no Gradio event is running)."""

    def __init__(self) -> None:
        self.descriptions: list[str] = []

    def __call__(self, *args: object, **kwargs: object) -> None:
        self.descriptions.append(str(kwargs.get("desc", "")))


def guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` inside its page's error boundary, as the page's events call it."""
    owner = handler.__self__  # type: ignore[attr-defined]
    return owner.boundary.guard(handler)  # type: ignore[no-any-return]


def test_pages_hold_no_repository() -> None:
    for name in SERVICE_PAGES:
        source = (REPO_ROOT / "app" / "ui" / f"{name}.py").read_text()
        assert "stores" not in source and "repositor" not in source.lower(), name
        assert "AppContext" not in source, name


def test_greetings_and_tags_round_trip() -> None:
    greetings = ["Hi.\n\nSecond paragraph.", "*waves*"]
    assert split_greetings(join_greetings(greetings)) == greetings
    assert split_greetings("") == []
    assert split_tags(" a, b,,a , c ") == ["a", "b", "c"]


def test_import_several_cards_with_per_file_errors(
    ui: UiBundle, tmp_path: Path, sillytavern_dir: Path
) -> None:
    library = ui.pages.library
    good = card_file(tmp_path, "Mira", alternate_greetings=["Hey."], tags=["test"])
    png = tmp_path / "seraphina.png"
    shutil.copy(sillytavern_dir / "cards" / "default_Seraphina.png", png)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps({"spec": "chara_card_v2", "data": {"name": ""}}))
    progress = _NoProgress()
    files = [str(good), str(png), str(broken), str(nameless)]
    updates = library.import_files(files, "", [], progress=progress)
    report = updates[library.listing.import_report]
    assert "✓ mira.json: imported Mira" in report and "✓ seraphina.png" in report
    assert report.count("✗") == 2 and "broken.json" in report and "nameless.json" in report
    grid = updates[library.listing.grid]
    assert "Seraphina" in grid and 'class="card-tile selected"' in grid
    assert updates[library.listing.upload] is None
    assert progress.descriptions[0] == "Importing mira.json (1/4)"


def test_a_card_imported_twice_on_the_page_is_there_once(
    ui: UiBundle, context: AppContext, tmp_path: Path
) -> None:
    library = ui.pages.library
    good = card_file(tmp_path, "Mira", tags=["test"])
    first = library.import_files([str(good)], "", [], progress=_NoProgress())
    again = library.import_files([str(good)], "", [], progress=_NoProgress())
    assert "✓ mira.json: imported Mira" in first[library.listing.import_report]
    report = again[library.listing.import_report]
    assert "✓ mira.json: already there: character &#x27;Mira&#x27;" in report
    (mira,) = [s.id for s in context.services.characters.summaries() if s.name == "Mira"]
    assert first[library.selected] == again[library.selected] == mira


def test_a_lorebook_imported_twice_on_the_page_is_there_once(
    ui: UiBundle, context: AppContext, sillytavern_dir: Path, tmp_path: Path
) -> None:
    page = ui.pages.lorebooks
    world = tmp_path / "Eldoria.json"
    shutil.copy(sillytavern_dir / "cards" / "Eldoria.json", world)
    first = page.import_world(str(world))
    again = page.import_world(str(world))
    assert "✓ Eldoria.json: imported lorebook" in first[page.actions.status]
    assert "✓ Eldoria.json: already there: lorebook" in again[page.actions.status]
    books = [b.id for b in context.services.lorebooks.books() if b.owner is None]
    assert len(books) == 1 and first[page.book]["value"] == again[page.book]["value"] == books[0]
    card = card_file(tmp_path, "Mira")
    refused = page.import_world(str(card))
    assert "✗ mira.json: is a card, not a lorebook" in refused[page.actions.status]


def test_a_large_card_shows_a_small_preview_and_the_limit_is_stated(
    ui: UiBundle, context: AppContext, tmp_path: Path
) -> None:
    library = ui.pages.library
    big = Image.effect_noise((3000, 2000), 64).convert("RGB")
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    path = tmp_path / "wide.png"
    path.write_bytes(write_png(CharacterCard.create("Wide", avatar=buffer.getvalue())))
    updates = library.import_files([str(path)], "", [], progress=_NoProgress())
    preview = updates[library.editor.avatar]
    assert isinstance(preview, Image.Image) and max(preview.size) == PREVIEW_PX
    assert preview.size == (PREVIEW_PX, PREVIEW_PX * 2 // 3)
    assert "64 MB" in str(library.listing.upload.label)


def test_create_edit_search_and_export_a_character(
    ui: UiBundle, context: AppContext, tmp_path: Path
) -> None:
    library, editor = ui.pages.library, ui.pages.library.editor
    characters = context.services.characters
    assert library.blank("", [])[library.selected] is None
    blank = library.blank_values()
    values = {box: blank[box] for box in editor.fields()}
    values[editor.name] = "Quill"
    values[editor.tags] = "scribe, owl"
    values[editor.texts["description"]] = "An owl who keeps the town's ledgers."
    values[editor.texts["first_mes"]] = "*ruffles feathers* Yes?"
    values[editor.texts["system_prompt"]] = "Stay in character."
    values[editor.alternates] = "Hoo?\n<NEXT>\nWho goes there?"
    values[editor.depth_text] = "Quill distrusts cats."
    values[editor.depth] = 2
    avatar = tmp_path / "owl.png"
    Image.new("RGB", (64, 48), "brown").save(avatar)
    values[editor.avatar] = str(avatar)
    saved = library.save_card(None, True, *(values[b] for b in editor.fields()), "", [])
    assert saved[library.actions.status] == '<div class="status">Saved.</div>'
    quill = context.library.find("Quill")
    card = characters.card(quill.id)
    assert card.alternate_greetings == ["Hoo?", "Who goes there?"]
    assert card.system_prompt == "Stay in character." and card.tags == ["scribe", "owl"]
    assert card.depth_prompt is not None and card.depth_prompt.depth == 2
    assert quill.avatar is not None and Image.open(io.BytesIO(quill.avatar)).size == (64, 48)
    shown = library.show(quill.id, "", [])
    edited = {box: shown.get(box) for box in editor.fields()}
    edited[editor.texts["scenario"]] = "Tax season."
    edited[editor.extensions] = '{"custom": {"kept": true}}'
    library.save_card(quill.id, False, *(edited[b] for b in editor.fields()), "", [])
    card = characters.card(quill.id)
    assert card.scenario == "Tax season." and card.extensions["custom"] == {"kept": True}
    assert card.alternate_greetings == ["Hoo?", "Who goes there?"]  # untouched fields stay
    assert "Quill" in library.filter("owl", [], None)[library.listing.grid]
    assert "Quill" not in library.filter("basil", [], None)[library.listing.grid]
    assert "Quill" in library.filter("", ["scribe"], None)[library.listing.grid]
    exported = library.export_card(quill.id, "json")[library.actions.exported]
    again = read_card(Path(exported))
    assert again.name == "Quill" and again.scenario == "Tax season."
    bad = dict(edited)
    bad[editor.extensions] = "[1, 2"
    save = guarded(library.save_card)
    error = save(quill.id, False, *(bad[b] for b in editor.fields()), "", [])
    status = error[library.actions.status]
    assert "extensions" in status and "status-error" in status
    trashed = library.trash_card(quill.id, "", [])
    assert "moved to the trash" in trashed[library.actions.status]
    assert "Quill" not in trashed[library.listing.grid]


def test_personas_create_default_and_delete(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.personas
    personas = context.services.personas
    made = page.save_persona(None, "Wren", "A courier.", 4, None, False)
    wren = made[page.selected]
    assert "(default)" in str(made[page.editor.listing]["choices"])  # the first is default
    other = page.save_persona(None, "Ash", "A thief.", 0, None, False)[page.selected]
    page.set_default(other)
    default = personas.default()
    assert default is not None and default.name == "Ash"
    page.save_persona(wren, "Wren Vale", "A courier.", 2, None, False)
    assert personas.get(wren).description_position == 2
    page.delete_persona(wren)
    assert [p.name for p in personas.personas()] == ["Ash"]
    failed = guarded(page.save_persona)(None, "  ", "", 0, None, False)
    assert "status-error" in failed[page.editor.status]


def test_lorebook_entries_are_edited_added_and_deleted(ui: UiBundle, context: AppContext) -> None:
    page, lorebooks = ui.pages.lorebooks, context.services.lorebooks
    shown = page.refresh(None)
    book_id = shown[page.picker.book]["value"]
    book = lorebooks.book(book_id)
    entry = book.entries[0]
    assert shown[page.editor.loaded][str(entry.id)][3] == entry.data["content"]
    values = [shown[box] for box in page.editor.fields()]
    values[0] = "ink, quill"
    values[3] = "Ink is alive."
    saved = page.save_entry(book_id, entry.id, *values)
    assert "Entry saved" in saved[page.actions.status]
    data = lorebooks.book(book_id).entries[0].data
    assert data["key"] == ["ink", "quill"] and data["content"] == "Ink is alive."
    assert data["uid"] == entry.data["uid"]  # unknown and untouched keys are kept
    assert saved[page.editor.loaded][str(entry.id)][3] == "Ink is alive."
    added = page.add_entry(book_id)
    entries = lorebooks.book(book_id).entries
    assert len(entries) == len(book.entries) + 1
    assert entries[-1].data["uid"] == max(int(e.data["uid"]) for e in book.entries) + 1
    page.delete_entry(book_id, added[page.editor.entry]["value"])
    assert len(lorebooks.book(book_id).entries) == len(book.entries)
    for not_a_number in ("x", "nan", "1e400"):
        with pytest.raises(InputError):
            entry_edit(dict.fromkeys(EDITOR_KEYS, None) | {"order": not_a_number})
    bad = guarded(page.save_entry)(book_id, entry.id, *values[:9], 4, 150)
    assert "probability" in bad[page.actions.status]


def test_presets_edit_save_and_import_with_report(
    ui: UiBundle, context: AppContext, sillytavern_dir: Path, tmp_path: Path
) -> None:
    page = ui.pages.presets
    shown = page.show("Deterministic", None)
    assert "Deterministic" in shown[page.presets_ui.preset_yaml]
    saved = page.save_preset("Deterministic", "name: Mine\ntemperature: 0.5\ntop_k: 20\n", None)
    assert "Saved Mine.yaml" in saved[page.presets_ui.status]
    assert context.presets.load("Mine").top_k == 20
    bad = guarded(page.save_preset)("Mine", "temperature: hot\n", None)
    assert "status-error" in bad[page.presets_ui.status]
    assert "temperature" in bad[page.presets_ui.status]
    files = []
    for part in ("textgen/Universal-Creative.json", "instruct/GLM-4.json", "index.json"):
        files.append(tmp_path / Path(part).name)
        shutil.copy(sillytavern_dir / part, files[-1])
    done = page.import_files([str(f) for f in files], None, None, progress=_NoProgress())
    report = done[page.st_import.report]
    assert "✓ Universal-Creative.json: imported sampler preset Universal-Creative" in report
    assert "✓ GLM-4.json: imported prompt format GLM-4" in report
    assert report.count("✗") == 1 and "index.json" in report
    assert "Universal-Creative" in context.presets.names()
    assert done[page.format]["value"] == "GLM-4"
    assert done[page.preset]["value"] == "Universal-Creative"


def test_an_imported_prompt_format_is_there_after_a_restart(
    ui: UiBundle, context: AppContext, sillytavern_dir: Path, tmp_path: Path
) -> None:
    page = ui.pages.presets
    glm = tmp_path / "GLM-4.json"
    shutil.copy(sillytavern_dir / "instruct" / "GLM-4.json", glm)
    assert "GLM-4" not in context.services.presets.format_names()  # not bundled
    page.import_files([str(glm)], None, None, progress=_NoProgress())
    again = build_context(Settings.load(data_dir=context.settings.data_dir), load_model=False)
    try:
        assert "GLM-4" in again.services.presets.format_names()
    finally:
        again.close()


def test_settings_validate_before_saving(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.settings
    save = guarded(page.save_config)
    assert "status-error" in save("port: 99999\n")[page.view.status]
    assert "unknown setting" in save("colour: blue\n")[page.view.status]
    assert not (context.settings.data_dir / "config.yaml").exists()
    assert "Saved" in save("n_ctx: 4096\n")[page.view.status]
    assert (context.settings.data_dir / "config.yaml").read_text() == "n_ctx: 4096\n"
    validate_config("")  # an empty file is fine
    assert page.refresh()[page.config] == "n_ctx: 4096\n"


def test_models_page_lists_files_and_reports_load_errors(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.models
    listed = page.refresh()
    bundled = bundled_model_path()
    assert bundled is not None
    assert any(row[1] == bundled.name and row[3] == "Q4_1" for row in listed[page.table])
    bad = context.settings.models_folder / "broken.gguf"
    bad.write_bytes(b"GGUF-not-really")
    rows = page.refresh()[page.table]
    assert any(row[1] == "broken.gguf" and row[6] for row in rows)
    load = guarded(page.load_model)
    failed = load(str(bad), 512, 0, False, "f16", "f16", progress=_NoProgress())
    assert "broken.gguf" in failed[page.form.status] and "status-error" in failed[page.form.status]
    assert context.models.loaded  # the previous model stays


@pytest.mark.model
def test_models_page_loads_and_unloads_the_bundled_model(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.models
    path = bundled_model_path()
    progress = _NoProgress()
    done = page.load_model(str(path), 512, 0, False, "q8_0", "f16", progress=progress)
    assert "Loaded SmolLM2" in done[page.form.status]
    assert progress.descriptions and "SmolLM2" in progress.descriptions[0]
    info = context.models.current().info
    assert info.n_ctx == 512 and "Q4_1" in done[page.current]
    page.unload_model()
    assert not context.models.loaded


@pytest.mark.model
def test_settings_page_shows_the_context_loaded_on_the_models_page(ui: UiBundle) -> None:
    models, settings = ui.pages.models, ui.pages.settings
    path = bundled_model_path()
    models.load_model(str(path), 4096, 0, False, "f16", "f16", progress=_NoProgress())
    rows = {row[0]: row[1] for row in settings.refresh()[settings.table]}
    assert rows["n_ctx"].startswith("4096")
    assert rows["model"].startswith(str(path))


@pytest.mark.model
def test_a_broken_first_model_falls_back_to_the_bundled_one(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "home", threads=2, n_ctx=512)
    settings.models_folder.mkdir(parents=True)
    bundled = bundled_model_path()
    assert bundled is not None
    data = bundled.read_bytes()
    (settings.models_folder / "aaa-first.gguf").write_bytes(data[: len(data) // 2])
    context = build_context(settings)
    try:
        assert context.models.loaded and context.models.current().info.path == str(bundled)
        page = build_ui(context, upload_roots=[tmp_path]).pages.models
        current = page.refresh()[page.current]
        assert "aaa-first.gguf could not be loaded" in current and bundled.name in current
    finally:
        context.close()


@pytest.mark.model
def test_models_page_connects_to_a_remote_server(
    ui: UiBundle, context: AppContext, llama_server: str
) -> None:
    page, remote = ui.pages.models, ui.pages.models.remote
    local = context.models.current()
    connect = guarded(remote.connect_remote)
    refused = connect(llama_server, "wrong-key", "", "completions", True)
    assert "refused the API key" in refused[remote.status]
    assert context.models.current() is local  # a failed connection changes nothing
    assert not (context.settings.data_dir / "config.yaml").exists()

    done = connect(f"{llama_server}/v1", LLAMA_SERVER_KEY, "", "chat", True)
    backend = context.models.current()
    assert isinstance(backend, RemoteBackend) and backend.mode == "chat"
    assert "Connected" in done[remote.status] and "config.yaml" in done[remote.status]
    assert "Remote:" in done[page.current] and llama_server in done[page.current]
    saved = Settings.load(data_dir=context.settings.data_dir)
    assert (saved.remote_url, saved.remote_mode) == (f"{llama_server}/v1", "chat")
    assert saved.remote_api_key == LLAMA_SERVER_KEY and saved.remote_model is None

    character = context.services.characters.summaries()[0]
    chat = context.chat.new_chat(character.id)
    *_, reply = context.chat.send(chat.id, "Hello there!")
    assert reply.done and reply.finish_reason in ("stop", "length") and reply.text.strip()
    assert reply.message is not None and reply.message.gen_info is not None
    assert reply.message.gen_info.model == backend.info.name
