"""Characters, Personas, Lorebooks, Presets, Models and Settings pages, handlers called directly."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from app.cards import read_card
from app.config_file import validate_config
from app.context import AppContext
from app.engine.models import bundled_model_path
from app.engine.remote import RemoteBackend
from app.settings import Settings
from app.ui.app import UiBundle
from app.ui.library_page import join_greetings, matches, split_greetings, split_tags
from app.ui.lorebooks_page import edited_entry
from tests.servers import LLAMA_SERVER_KEY
from tests.ui.conftest import card_file


def test_greetings_and_tags_round_trip() -> None:
    greetings = ["Hi.\n\nSecond paragraph.", "*waves*"]
    assert split_greetings(join_greetings(greetings)) == greetings
    assert split_greetings("") == []
    assert split_tags(" a, b,,a , c ") == ["a", "b", "c"]


def test_import_several_cards_with_per_file_errors(ui: UiBundle, tmp_path: Path,
                                                   sillytavern_dir: Path) -> None:  # fmt: skip
    library = ui.pages.library
    good = card_file(tmp_path, "Mira", alternate_greetings=["Hey."], tags=["test"])
    png = tmp_path / "seraphina.png"
    shutil.copy(sillytavern_dir / "cards" / "default_Seraphina.png", png)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps({"spec": "chara_card_v2", "data": {"name": ""}}))
    updates = library.import_files([str(good), str(png), str(broken), str(nameless)], "", [])
    report = updates[library.import_report]
    assert "✓ mira.json: imported Mira" in report and "✓ seraphina.png" in report
    assert report.count("✗") == 2 and "broken.json" in report and "nameless.json" in report
    assert (
        "Seraphina" in updates[library.grid]
        and 'class="card-tile selected"' in updates[library.grid]
    )
    assert updates[library.upload] is None


def test_create_edit_search_and_export_a_character(ui: UiBundle, context: AppContext,
                                                   tmp_path: Path) -> None:  # fmt: skip
    library = ui.pages.library
    blank = library.blank("", [])
    assert blank[library.selected] is None
    values = {box: blank.get(box) for box in library.editor_fields()}
    values[library.name] = "Quill"
    values[library.tags] = "scribe, owl"
    values[library.texts["description"]] = "An owl who keeps the town's ledgers."
    values[library.texts["first_mes"]] = "*ruffles feathers* Yes?"
    values[library.texts["system_prompt"]] = "Stay in character."
    values[library.alternates] = "Hoo?\n<NEXT>\nWho goes there?"
    values[library.depth_text] = "Quill distrusts cats."
    values[library.depth] = 2
    avatar = tmp_path / "owl.png"
    Image.new("RGB", (64, 48), "brown").save(avatar)
    values[library.avatar] = str(avatar)
    saved = library.save_card(None, True, *(values[b] for b in library.editor_fields()), "", [])
    assert saved[library.status] == '<div class="status">Saved.</div>'
    quill = context.library.find("Quill")
    card = context.library.card(quill.id)
    assert card.alternate_greetings == ["Hoo?", "Who goes there?"]
    assert card.system_prompt == "Stay in character." and card.tags == ["scribe", "owl"]
    assert card.depth_prompt is not None and card.depth_prompt.depth == 2
    assert quill.avatar is not None and Image.open(io.BytesIO(quill.avatar)).size == (64, 48)
    shown = library.show(quill.id, "", [])
    edited = {box: shown.get(box) for box in library.editor_fields()}
    edited[library.texts["scenario"]] = "Tax season."
    edited[library.extensions] = '{"custom": {"kept": true}}'
    library.save_card(quill.id, False, *(edited[b] for b in library.editor_fields()), "", [])
    card = context.library.card(quill.id)
    assert card.scenario == "Tax season." and card.extensions["custom"] == {"kept": True}
    assert card.alternate_greetings == ["Hoo?", "Who goes there?"]  # untouched fields stay
    assert "Quill" in library.filter("owl", [], None) and "Quill" not in library.filter(
        "basil", [], None
    )
    assert "Quill" in library.filter("", ["scribe"], None)
    exported = library.export_card(quill.id, "json")[library.exported]
    again = read_card(Path(exported))
    assert again.name == "Quill" and again.scenario == "Tax season."
    bad = dict(edited)
    bad[library.extensions] = "[1, 2"
    error = library.save_card(quill.id, False, *(bad[b] for b in library.editor_fields()), "", [])
    assert "extensions" in error[library.status] and "status-error" in error[library.status]


def test_library_filters_by_tag_and_name(context: AppContext) -> None:
    summary = next(c for c in context.stores.characters.list_characters() if c.name == "HESPER")
    assert matches(summary, "hes", []) and matches(summary, "space", [])
    assert matches(summary, "", ["sci-fi"]) and not matches(summary, "", ["fantasy"])


def test_personas_create_default_and_delete(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.personas
    made = page.save_persona(None, "Wren", "A courier.", 4, None, False)
    wren = made[page.selected]
    assert "(default)" in str(made[page.listing]["choices"])  # the first persona is default
    other = page.save_persona(None, "Ash", "A thief.", 0, None, False)[page.selected]
    page.set_default(other)
    default = context.stores.personas.get_default()
    assert default is not None and default.name == "Ash"
    page.save_persona(wren, "Wren Vale", "A courier.", 2, None, False)
    assert context.stores.personas.get(wren).description_position == 2
    page.delete_persona(wren)
    assert [p.name for p in context.stores.personas.list_personas()] == ["Ash"]
    assert "status-error" in page.save_persona(None, "  ", "", 0, None, False)[page.status]


def test_lorebook_entries_are_edited_added_and_deleted(ui: UiBundle, context: AppContext,
                                                       sillytavern_dir: Path) -> None:  # fmt: skip
    page = ui.pages.lorebooks
    shown = page.refresh(None)
    book_id = shown[page.book]["value"]
    book = context.stores.lorebooks.get(book_id)
    entry = book.entries[0]
    values = [shown[box] for box in page.editor()]
    values[0] = "ink, quill"
    values[3] = "Ink is alive."
    saved = page.save_entry(book_id, entry.id, *values)
    assert "Entry saved" in saved[page.status]
    data = context.stores.lorebooks.get(book_id).entries[0].data
    assert data["key"] == ["ink", "quill"] and data["content"] == "Ink is alive."
    assert data["uid"] == entry.data["uid"]  # unknown and untouched keys are kept
    added = page.add_entry(book_id)
    assert len(context.stores.lorebooks.get(book_id).entries) == len(book.entries) + 1
    page.delete_entry(book_id, added[page.entry]["value"])
    assert len(context.stores.lorebooks.get(book_id).entries) == len(book.entries)
    with pytest.raises(ValueError):
        edited_entry({}, dict.fromkeys(page._EDITOR_KEYS, None) | {"order": "x"})


def test_presets_edit_save_and_import_with_report(ui: UiBundle, context: AppContext,
                                                  sillytavern_dir: Path) -> None:  # fmt: skip
    page = ui.pages.presets
    shown = page.show("Deterministic", None)
    assert "Deterministic" in shown[page.preset_yaml]
    saved = page.save_preset("Deterministic", "name: Mine\ntemperature: 0.5\ntop_k: 20\n", None)
    assert "Saved Mine.yaml" in saved[page.status]
    assert context.presets.load("Mine").top_k == 20
    bad = page.save_preset("Mine", "temperature: hot\n", None)
    assert "status-error" in bad[page.status] and "temperature" in bad[page.status]
    report = page.import_file(str(sillytavern_dir / "textgen" / "Universal-Creative.json"),
                              None, None)[page.report]  # fmt: skip
    assert "Sampler preset Universal-Creative saved" in report
    assert "Universal-Creative" in context.presets.names()
    template = page.import_file(str(sillytavern_dir / "instruct" / "ChatML.json"), None, None)
    assert "Prompt format ChatML" in template[page.report]
    assert template[page.format]["value"] == "ChatML"
    junk = page.import_file(str(sillytavern_dir / "index.json"), None, None)
    assert junk[page.report].count("✗") == 2


def test_settings_validate_before_saving(ui: UiBundle, context: AppContext) -> None:
    page = ui.pages.settings
    assert "status-error" in page.save_config("port: 99999\n")
    assert "unknown setting" in page.save_config("colour: blue\n")
    assert not (context.settings.data_dir / "config.yaml").exists()
    assert "Saved" in page.save_config("n_ctx: 4096\n")
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
    failed = page.load_model(str(bad), 512, 0, False, "f16", "f16", progress=_NoProgress())
    assert "broken.gguf" in failed[page.status] and "status-error" in failed[page.status]
    assert context.models.loaded  # the previous model stays


@pytest.mark.model
def test_models_page_loads_and_unloads_the_bundled_model(ui: UiBundle,
                                                         context: AppContext) -> None:  # fmt: skip
    page = ui.pages.models
    path = bundled_model_path()
    done = page.load_model(str(path), 512, 0, False, "q8_0", "f16", progress=_NoProgress())
    assert "Loaded SmolLM2" in done[page.status]
    info = context.models.current().info
    assert info.n_ctx == 512 and "Q4_1" in done[page.current]
    page.unload_model()
    assert not context.models.loaded


@pytest.mark.model
def test_models_page_connects_to_a_remote_server(
    ui: UiBundle, context: AppContext, llama_server: str
) -> None:
    page, remote = ui.pages.models, ui.pages.models.remote
    local = context.models.current()
    refused = remote.connect_remote(llama_server, "wrong-key", "", "completions", True)
    assert "refused the API key" in refused[remote.status]
    assert context.models.current() is local  # a failed connection changes nothing
    assert not (context.settings.data_dir / "config.yaml").exists()

    done = remote.connect_remote(f"{llama_server}/v1", LLAMA_SERVER_KEY, "", "chat", True)
    backend = context.models.current()
    assert isinstance(backend, RemoteBackend) and backend.mode == "chat"
    assert "Connected" in done[remote.status] and "config.yaml" in done[remote.status]
    assert "Remote:" in done[page.current] and llama_server in done[page.current]
    saved = Settings.load(data_dir=context.settings.data_dir)
    assert (saved.remote_url, saved.remote_mode) == (f"{llama_server}/v1", "chat")
    assert saved.remote_api_key == LLAMA_SERVER_KEY and saved.remote_model is None

    character = context.stores.characters.list_characters()[0]
    chat = context.chat.new_chat(character.id)
    *_, reply = context.chat.send(chat.id, "Hello there!")
    assert reply.done and reply.finish_reason in ("stop", "length") and reply.text.strip()
    assert reply.message is not None and reply.message.gen_info is not None
    assert reply.message.gen_info.model == backend.info.name


class _NoProgress(gr.Progress):
    """A progress callback that only counts its calls (no Gradio event is running)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> None:
        self.calls += 1
