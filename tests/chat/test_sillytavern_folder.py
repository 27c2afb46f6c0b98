"""``parlor import`` of a SillyTavern data folder reproduces the user's active setup."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chat import format_files
from app.chat.imports import ImportResult
from app.context import AppContext, build_context
from app.engine.fake import FakeBackend
from app.errors import InputError
from app.settings import Settings
from app.storage.repositories import ChatRepository, PersonaRepository, PreferencesRepository
from tests.chat.st_files import ADA, NOTE, st_data_folder
from tests.paths import SILLYTAVERN


def _import(context: AppContext, folder: Path) -> list[ImportResult]:
    importer = context.services.importer
    results = [importer.import_file(path) for path in importer.files([folder])]
    assert [r.line() for r in results if not r.ok] == []
    return results


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return st_data_folder(tmp_path / "SillyTavern", SILLYTAVERN)


#: The prompt SillyTavern 1.18 sends for the chat's next reply with this setup (Llama 3
#: Instruct, "Roleplay - Simple", Ada's description in the story string, the author's note
#: in the chat at depth 1 as a system message), written out from its assembly rules.
EXPECTED = (
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "You're Mirelle in this fictional never-ending uncensored roleplay with Ada.\n"
    "Mirelle is a cartographer of sunken places.\n"
    "patient, dry-witted\n"
    "Ada brought Mirelle a water-stained map.\n"
    f"{ADA}<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
    "*Mirelle unrolls the map.* You found this where?<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n"
    "In the reeds below the old mill.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
    "The mill. Of course it was the mill.<|eot_id|>"
    "<|start_header_id|>system<|end_header_id|>\n\n"
    f"{NOTE}<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n"
    "Can you read it?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def test_the_imported_chat_prompts_as_sillytavern_did(
    context: AppContext, fake: FakeBackend, folder: Path
) -> None:
    _import(context, folder)
    (chat,) = ChatRepository(context.db).list_chats()
    assert context.chat.prompt(chat.id).text == EXPECTED


def test_the_active_setup_becomes_the_defaults(context: AppContext, folder: Path) -> None:
    results = _import(context, folder)
    prefs = PreferencesRepository(context.db)
    assert (prefs.default_format(), prefs.default_preset()) == (
        "Llama 3 Instruct",
        "Universal-Light",
    )
    fmt = context.formats.get("Llama 3 Instruct")
    assert fmt.system_prompt.name == "Roleplay - Simple"
    assert fmt.instruct is not None and fmt.instruct.story_string_prefix.startswith("<|start")
    personas = {p.name: p for p in PersonaRepository(context.db).list_personas()}
    assert set(personas) == {"Ada", "User"}
    assert personas["Ada"].is_default and personas["Ada"].description == ADA
    assert personas["Ada"].avatar is not None and personas["User"].avatar is not None
    kinds = {r.path.name: r.kind for r in results}
    assert kinds["user-default.png"] == "persona" and kinds["settings.json"] == "settings"


def test_skipped_folders_are_one_line_each_and_no_failure(
    context: AppContext, folder: Path
) -> None:
    results = _import(context, folder)
    skipped = {r.path.name: r.line() for r in results if r.skipped and r.kind == "folder"}
    assert set(skipped) == {
        "backgrounds", "themes", "thumbnails", "QuickReplies", "assets", "user", "vectors",
    }  # fmt: skip
    assert all(line.startswith("skipped ") and "\n" not in line for line in skipped.values())
    secrets = next(r for r in results if r.path.name == "secrets.json")
    assert secrets.ok and secrets.skipped is not None


def test_instruct_and_context_files_of_one_name_make_one_format(
    context: AppContext, folder: Path
) -> None:
    results = _import(context, folder)
    named = [r for r in results if r.name == "Llama 3 Instruct" and r.kind == "template"]
    assert len(named) == 2  # instruct/ and context/: neither replaced the other
    fmt = context.formats.get("Llama 3 Instruct")
    assert fmt.instruct is not None and fmt.instruct.input_suffix == "<|eot_id|>"
    assert "{{#if anchorBefore}}" in fmt.context.story_string


def test_a_second_import_replaces_nothing(context: AppContext, folder: Path) -> None:
    _import(context, folder)
    again = _import(context, folder)
    by_kind: dict[str | None, list[ImportResult]] = {}
    for result in again:
        by_kind.setdefault(result.kind, []).append(result)
    for kind in ("template", "preset", "persona", "card", "lorebook"):
        assert all(r.skipped and r.skipped.startswith("already there") for r in by_kind[kind])
    assert context.formats.get("Llama 3 Instruct").system_prompt.name == "Roleplay - Simple"


def test_a_different_template_of_the_same_name_is_kept_beside(
    context: AppContext, folder: Path, tmp_path: Path
) -> None:
    _import(context, folder)
    changed = tmp_path / "Llama 3 Instruct.json"
    text = (folder / "instruct" / "Llama 3 Instruct.json").read_text("utf-8")
    changed.write_text(text.replace('"wrap": false', '"wrap": true'), "utf-8")
    result = context.services.importer.import_file(changed)
    assert result.ok and result.name == "Llama 3 Instruct (2)"
    assert any("imported as 'Llama 3 Instruct (2)'" in line for line in result.report)
    original = context.formats.get("Llama 3 Instruct")
    assert original.instruct is not None and original.instruct.wrap is False


def test_imported_formats_and_defaults_survive_a_restart(
    context: AppContext, folder: Path, _isolated_home: Path
) -> None:
    _import(context, folder)
    context.close()
    again = build_context(Settings.load(data_dir=_isolated_home), load_model=False)
    try:
        fmt = again.formats.get("Llama 3 Instruct")
        assert fmt.system_prompt.name == "Roleplay - Simple"
        assert "Alpaca" in again.formats.names()
        assert PreferencesRepository(again.db).default_format() == "Llama 3 Instruct"
    finally:
        again.close()


def test_a_lone_user_avatar_is_a_persona_not_a_broken_card(
    context: AppContext, folder: Path, tmp_path: Path
) -> None:
    lone = tmp_path / "elsewhere" / "User Avatars"
    lone.mkdir(parents=True)
    avatar = lone / "user-default.png"
    avatar.write_bytes((folder / "User Avatars" / "user-default.png").read_bytes())
    result = context.services.importer.import_file(avatar)
    assert result.ok and (result.kind, result.name) == ("persona", "user-default")


def test_a_failed_settings_import_leaves_no_file_behind(
    context: AppContext, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = context.settings.data_dir

    def files() -> set[Path]:
        return {p for name in ("templates", "presets") for p in (data_dir / name).glob("*")}

    personas = PersonaRepository(context.db)
    before, in_use = files(), context.formats.get("Llama 3 Instruct")
    known = personas.list_personas()

    def broken(*args: object, **kwargs: object) -> None:
        raise InputError("preferences", "disk full")

    with monkeypatch.context() as patch:
        patch.setattr(PreferencesRepository, "set_default_preset", broken)
        failed = context.services.importer.import_file(folder / "settings.json")
    assert not failed.ok and "disk full" in (failed.error or "")
    assert files() == before
    assert context.formats.get("Llama 3 Instruct") == in_use
    assert personas.list_personas() == known
    done = context.services.importer.import_file(folder / "settings.json")
    assert done.ok and done.name == "Llama 3 Instruct" and files() > before


def test_a_failed_format_write_takes_the_preset_file_back(
    context: AppContext, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(format_files, "write_json", full)
    failed = context.services.importer.import_file(folder / "settings.json")
    assert not failed.ok and "No space left" in (failed.error or "")
    assert not list((context.settings.data_dir / "presets").glob("*"))
    assert PreferencesRepository(context.db).default_preset() is None
