"""Importing SillyTavern instruct / context / sysprompt / master-export JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import TemplateError
from app.prompt.formats import ContextTemplate, InstructTemplate
from app.prompt.st_import import import_st_data, import_st_file

KINDS = ("instruct", "context")


def reference_files(st_ref: Path) -> list[Path]:
    files = [p for kind in (*KINDS, "sysprompt") for p in (st_ref / kind).glob("*.json")]
    files += [p for kind in KINDS for p in (st_ref / "legacy-2024").glob(f"*/{kind}/*.json")]
    return sorted(files)


def test_every_reference_file_imports(st_ref: Path) -> None:
    files = reference_files(st_ref)
    assert len(files) == 38 + 34 + 13 + 2 + 2 + 29 + 26
    for path in files:
        result = import_st_file(path)
        kind = path.parent.name
        if kind == "instruct":
            assert result.instruct is not None, path
            assert result.instruct_name, path
        elif kind == "context":
            assert result.context is not None, path
            assert result.context.story_string_syntax == "handlebars"
        else:
            assert result.sysprompt is not None and result.sysprompt.name, path
        result.to_format()


def test_settings_json_imports(st_ref: Path) -> None:
    result = import_st_file(st_ref / "settings.json")
    # Instruct mode is off in the reference settings: the active setup is plain text.
    assert result.instruct is None and result.name == "Default"
    assert result.context is not None and result.context.chat_start == "***"
    assert result.sysprompt is not None and result.sysprompt.name == "Neutral - Chat"


def test_master_export_bundle(st_ref: Path, tmp_path: Path) -> None:
    bundle = {
        "instruct": json.loads((st_ref / "instruct" / "ChatML.json").read_text()),
        "context": json.loads((st_ref / "context" / "ChatML.json").read_text()),
        "sysprompt": json.loads((st_ref / "sysprompt" / "Roleplay - Simple.json").read_text()),
        "preset": {"temp": 1.0, "top_k": 0, "top_p": 1, "rep_pen": 1},
        "srw": {"value": "", "show": False},
    }
    path = tmp_path / "master.json"
    path.write_text(json.dumps(bundle))
    fmt = import_st_file(path).to_format()
    assert fmt.name == "ChatML"
    assert fmt.instruct is not None and fmt.instruct.input_sequence == "<|im_start|>user"
    assert fmt.context.chat_start == ""
    assert fmt.system_prompt.content.startswith("You're {{char}} in this fictional")


def test_legacy_names_migration(st_ref: Path) -> None:
    legacy = st_ref / "legacy-2024" / "2024-04-27_3a8b8ed63" / "instruct"
    always = import_st_file(legacy / "Llama 3 Instruct.json")
    none = import_st_file(legacy / "Llama-3-Instruct-Names.json")
    assert always.instruct is not None and always.instruct.names_behavior == "always"
    assert none.instruct is not None and none.instruct.names_behavior == "none"
    assert always.instruct.story_string_prefix == ""
    assert always.instruct.sequences_as_stop_strings is True
    assert always.sysprompt is not None
    assert always.sysprompt.name == "[Migrated] Llama 3 Instruct"
    assert always.sysprompt.content.startswith("You are an expert actor")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"names": True, "names_force_groups": True}, "always"),
        ({"names": False, "names_force_groups": True}, "force"),
        ({"names": False, "names_force_groups": False}, "none"),
        ({}, "force"),
    ],
)
def test_names_to_names_behavior(data: dict[str, bool], expected: str) -> None:
    raw = {"name": "X", "input_sequence": "a", "output_sequence": "b", **data}
    result = import_st_data(raw, source="x.json")
    assert result.instruct is not None and result.instruct.names_behavior == expected


def test_separator_sequence_becomes_output_suffix() -> None:
    raw = {
        "name": "Old",
        "input_sequence": "a",
        "output_sequence": "b",
        "separator_sequence": "</s>",
    }
    result = import_st_data(raw, source="old.json")
    assert result.instruct == InstructTemplate(
        input_sequence="a", output_sequence="b", output_suffix="</s>"
    )


def test_obsolete_context_keys_are_dropped_and_reported() -> None:
    raw = {
        "name": "C",
        "story_string": "{{system}}",
        "allow_jailbreak": False,
        "include_newline": True,
    }
    result = import_st_data(raw, source="c.json")
    assert result.context == ContextTemplate(story_string="{{system}}", allow_jailbreak=False)
    assert result.report == ("include_newline = true: not used (removed in SillyTavern 1.12.6)",)


def test_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "input_sequence": ')
    with pytest.raises(TemplateError) as info:
        import_st_file(path)
    assert "broken.json:2" in str(info.value)
    assert "not JSON" in str(info.value)


def test_wrong_type_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"name": "B", "input_sequence": "a", "output_sequence": "b", "wrap": "yes"})
    )
    with pytest.raises(TemplateError) as info:
        import_st_file(path)
    message = str(info.value)
    assert "bad.json" in message and "'wrap'" in message
    assert "\n" not in message


def test_wrong_type_in_master_export_names_the_section(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    path.write_text(
        json.dumps({"context": {"name": "C", "story_string": "", "story_string_depth": "4"}})
    )
    with pytest.raises(TemplateError, match=r"master\.json: key 'context\.story_string_depth'"):
        import_st_file(path)


def test_bad_names_behavior_value(tmp_path: Path) -> None:
    path = tmp_path / "nb.json"
    path.write_text(
        json.dumps(
            {
                "name": "N",
                "input_sequence": "",
                "output_sequence": "",
                "names_behavior": "sometimes",
            }
        )
    )
    with pytest.raises(TemplateError, match="'names_behavior'"):
        import_st_file(path)


def test_unknown_json_shape_is_rejected() -> None:
    with pytest.raises(TemplateError, match="not a SillyTavern"):
        import_st_data({"hello": "world"}, source="what.json")
    with pytest.raises(TemplateError, match="expected a JSON object"):
        import_st_data([1, 2], source="list.json")
