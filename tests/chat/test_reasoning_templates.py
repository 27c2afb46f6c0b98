"""The user's reasoning templates: SillyTavern files imported, kept, named, chosen.

Replies are parsed through the chat service with the scripted backend (no chat template,
so nothing is detected from it); the same template on the real model is in
``test_reasoning_model.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.chat import format_files
from app.chat.imports import ImportResult, detect_kind
from app.chat.reasoning_files import ReasoningTemplates
from app.context import AppContext, build_context
from app.engine.fake import FakeBackend
from app.settings import Settings
from app.storage.types import ChatSettings, ReasoningSettings
from tests.chat.st_files import st_data_folder
from tests.chat.test_service import character_id, last
from tests.paths import SILLYTAVERN

#: A SillyTavern reasoning template file, as its "Save" writes one.
PONDER = {"name": "Ponder", "prefix": "<ponder>\n", "suffix": "\n</ponder>", "separator": "\n\n"}


def write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data, indent=4), "utf-8")
    return path


def import_file(context: AppContext, path: Path) -> ImportResult:
    result = context.services.importer.import_file(path)
    assert result.ok, result.error
    return result


def pondering_chat(context: AppContext, template: str | None = "Ponder") -> int:
    chat = context.chat.new_chat(character_id(context))
    settings = ChatSettings(reasoning=ReasoningSettings(template=template))
    context.stores.chats.update_settings(chat.id, settings)
    return chat.id


def test_an_imported_template_is_listed_kept_as_sillytavern_json_and_parses_replies(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    path = write(tmp_path, "Ponder.json", PONDER)
    assert detect_kind(path) == "reasoning"
    result = import_file(context, path)
    assert (result.kind, result.name, result.skipped) == ("reasoning", "Ponder", None)
    assert result.line() == f"imported reasoning 'Ponder' from {path}"
    names = context.chat.setting_choices().reasoning_templates
    assert names[:2] == ["DeepSeek", "Qwen"] and names[-1] == "Ponder"
    saved = context.settings.data_dir / "reasoning" / "Ponder.json"
    assert json.loads(saved.read_text("utf-8")) == PONDER
    chat_id = pondering_chat(context)
    fake.enqueue(["<ponder>\nThe map is", " old.\n</pon", "der>\n\nLet me see it."])
    done = last(context.chat.send(chat_id, "Can you read it?"))
    assert (done.thought.text, done.text) == ("The map is old.", "Let me see it.")
    assert done.message is not None and done.message.extra["reasoning"] == "The map is old."


def test_an_imported_template_survives_a_restart(
    context: AppContext, tmp_path: Path, _isolated_home: Path
) -> None:
    import_file(context, write(tmp_path, "Ponder.json", PONDER))
    chat_id = pondering_chat(context)
    context.close()
    again = build_context(Settings.load(data_dir=_isolated_home), load_model=False)
    try:
        again.models.use(FakeBackend(n_ctx=16384))
        assert "Ponder" in again.chat.setting_choices().reasoning_templates
        assert again.chat.prompt(chat_id).text  # the chat's choice still resolves
        assert again.chat.view(chat_id).warnings == ()
    finally:
        again.close()


def test_an_identical_import_is_already_there_and_a_different_one_is_name_2(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    import_file(context, write(tmp_path, "Ponder.json", PONDER))
    again = import_file(context, write(tmp_path / "copy", "Ponder.json", PONDER))
    assert again.skipped == "already there: reasoning template 'Ponder'"
    other = {**PONDER, "prefix": "<muse>\n", "suffix": "\n</muse>"}
    second = import_file(context, write(tmp_path / "other", "Ponder.json", other))
    assert (second.name, second.skipped) == ("Ponder (2)", None)
    assert any("imported as 'Ponder (2)'" in line for line in second.report)
    names = context.chat.setting_choices().reasoning_templates
    assert names.count("Ponder") == 1 and "Ponder (2)" in names
    folder = context.settings.data_dir / "reasoning"
    assert sorted(p.name for p in folder.iterdir()) == ["Ponder (2).json", "Ponder.json"]
    chat_id = pondering_chat(context, "Ponder (2)")
    fake.enqueue(["<muse>\nHm.\n</muse>\n\nYes."])
    done = last(context.chat.send(chat_id, "Well?"))
    assert (done.thought.text, done.text) == ("Hm.", "Yes.")


def test_sillytavern_bundled_templates_are_the_built_in_ones(
    context: AppContext, tmp_path: Path
) -> None:
    for name in ("DeepSeek", "Think XML", "Blank", "Gemma 4", "OpenAI Harmony"):
        result = import_file(context, SILLYTAVERN / "reasoning" / f"{name}.json")
        assert result.skipped == f"already there: reasoning template {name!r}"
    assert not (context.settings.data_dir / "reasoning").exists()


def test_a_template_named_as_a_built_in_replaces_it_until_its_file_goes(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    mine = {"name": "Think XML", "prefix": "<thinking>", "suffix": "</thinking>", "separator": ""}
    result = import_file(context, write(tmp_path, "Think XML.json", mine))
    assert result.name == "Think XML"
    assert any("replaces the built-in reasoning template 'Think XML'" in r for r in result.report)
    names = context.chat.setting_choices().reasoning_templates
    assert names.count("Think XML") == 1 and names.index("Think XML") == 2  # in its place
    chat_id = pondering_chat(context, "Think XML")
    fake.enqueue(["<thinking>Hm.</thinking>Yes."])
    assert last(context.chat.send(chat_id, "Well?")).thought.text == "Hm."
    (context.settings.data_dir / "reasoning" / "Think XML.json").unlink()
    fake.enqueue(["<think>Hm.</think>Yes."])
    assert last(context.chat.send(chat_id, "Again?")).thought.text == "Hm."


def test_a_chat_whose_template_is_gone_falls_back_with_a_warning(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    import_file(context, write(tmp_path, "Ponder.json", PONDER))
    chat_id = pondering_chat(context)
    assert context.chat.view(chat_id).warnings == ()
    (context.settings.data_dir / "reasoning" / "Ponder.json").unlink()
    (warning,) = context.chat.view(chat_id).warnings
    assert warning == "Reasoning format “Ponder” no longer exists: using the model's."
    fake.enqueue(["<think>\nHm.\n</think>\n\nYes."])  # the model's: DeepSeek
    done = last(context.chat.send(chat_id, "Well?"))
    assert (done.thought.text, done.text) == ("Hm.", "Yes.")


def _with_reasoning(folder: Path, selected: dict[str, Any]) -> Path:
    """The data folder with ``reasoning/Ponder.json`` and ``settings.json`` selecting
    ``selected`` (``power_user.reasoning``, as SillyTavern keeps it)."""
    write(folder / "reasoning", "Ponder.json", PONDER)
    settings = folder / "settings.json"
    data = json.loads(settings.read_text("utf-8"))
    data["power_user"]["reasoning"] = {"auto_parse": True, "add_to_prompts": False, **selected}
    settings.write_text(json.dumps(data), "utf-8")
    return folder


def _import_folder(context: AppContext, folder: Path) -> list[ImportResult]:
    importer = context.services.importer
    results = [importer.import_file(path) for path in importer.files([folder])]
    assert [r.line() for r in results if not r.ok] == []
    return results


def test_a_sillytavern_folder_brings_its_templates_and_selected_default(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    folder = _with_reasoning(st_data_folder(tmp_path / "ST", SILLYTAVERN), PONDER)
    results = _import_folder(context, folder)
    (ponder,) = [r for r in results if r.kind == "reasoning"]
    assert ponder.name == "Ponder" and ponder.skipped is None
    settings = next(r for r in results if r.kind == "settings")
    assert "default reasoning template 'Ponder'" in settings.report[-1]
    assert context.stores.preferences.default_reasoning_template() == "Ponder"
    model = context.chat.setting_choices().model_reasoning
    assert model is not None and (model.chosen, model.detected) == (None, "Ponder")
    chat_id = pondering_chat(context, None)  # the chat and the model choose nothing
    fake.enqueue(["<ponder>\nHm.\n</ponder>\n\nYes."])
    assert last(context.chat.send(chat_id, "Well?")).thought.text == "Hm."


def test_the_default_serves_models_whose_chat_template_names_no_tags(
    context: AppContext, tmp_path: Path
) -> None:
    import_file(context, write(tmp_path, "Ponder.json", PONDER))
    templates = ReasoningTemplates.load(context.settings.data_dir / "reasoning")
    assert templates.pick((), None, "Ponder") == "Ponder"
    assert templates.pick((), "{{ '<|channel|>analysis' }}", "Ponder") == "gpt-oss"
    assert templates.pick(("Gone", "Think XML"), None, "Ponder") == "Think XML"
    assert templates.pick((), None, "Gone") == "DeepSeek"


def test_settings_parts_that_differ_from_the_named_template_are_kept_beside_it(
    context: AppContext, tmp_path: Path
) -> None:
    edited = {**PONDER, "separator": "\n"}  # edited in SillyTavern's panel, never saved
    folder = _with_reasoning(st_data_folder(tmp_path / "ST", SILLYTAVERN), edited)
    _import_folder(context, folder)
    assert context.stores.preferences.default_reasoning_template() == "Ponder (2)"
    again = context.services.importer.import_file(folder / "settings.json")
    assert again.ok and "default reasoning template 'Ponder (2)'" in again.report[-1]
    assert len(list((context.settings.data_dir / "reasoning").iterdir())) == 2


def test_a_master_export_reasoning_template_becomes_the_default(
    context: AppContext, tmp_path: Path
) -> None:
    instruct = json.loads((SILLYTAVERN / "instruct" / "ChatML.json").read_text("utf-8"))
    bundle = write(tmp_path, "master.json", {"instruct": instruct, "reasoning": PONDER})
    result = import_file(context, bundle)
    assert (result.kind, result.name) == ("template", "ChatML")
    assert "default reasoning template 'Ponder'" in result.report
    assert context.stores.preferences.default_reasoning_template() == "Ponder"
    alone = write(tmp_path, "alone.json", {"reasoning": {**PONDER, "name": "Muse"}})
    assert import_file(context, alone).kind == "reasoning"
    assert context.stores.preferences.default_reasoning_template() == "Muse"
    assert import_file(context, alone).skipped == "already there: reasoning template 'Muse'"


def test_a_failed_settings_import_takes_the_new_template_file_back(
    context: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = st_data_folder(tmp_path / "ST", SILLYTAVERN)
    _with_reasoning(folder, {**PONDER, "name": "Unsaved"})

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(format_files.FormatFiles, "write", full)
    failed = context.services.importer.import_file(folder / "settings.json")
    assert not failed.ok and "No space left" in (failed.error or "")
    assert list((context.settings.data_dir / "reasoning").glob("*.json")) == []
    assert "Unsaved" not in context.chat.setting_choices().reasoning_templates
    assert context.stores.preferences.default_reasoning_template() is None


def test_a_broken_template_file_fails_alone(context: AppContext, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", {**PONDER, "suffix": 3})
    result = context.services.importer.import_file(path)
    assert result.error == f"{path}: key 'suffix': expected text"
    write(context.settings.data_dir / "reasoning", "bad.json", {**PONDER, "suffix": 3})
    assert "Ponder" not in context.chat.setting_choices().reasoning_templates
