"""SillyTavern template fidelity: legacy switches honoured, dropped values reported,
unsupported Handlebars refused at import, settings.json read as the active setup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.errors import TemplateError
from app.prompt.assemble import PromptBuilder
from app.prompt.st_import import format_from_st_files, import_st_data, import_st_file
from app.prompt.types import CharacterInfo, ChatMessage, PromptRequest

LEGACY_10 = "legacy-2024/2024-10-18_staging_1ac6780e"


def _prompt(builder: PromptBuilder, st_ref: Path, era: str) -> str:
    root = st_ref / era if era else st_ref
    fmt = format_from_st_files(
        root / "instruct" / "Llama 3 Instruct.json", root / "context" / "Llama 3 Instruct.json"
    )
    request = PromptRequest(
        format=fmt,
        character=CharacterInfo(
            "Seraphina", description="DESC", post_history_instructions="Stay in character."
        ),
        history=[ChatMessage("Seraphina", "GREETING", False), ChatMessage("User", "Hi", True)],
        n_ctx=8192,
        max_new_tokens=350,
    )
    return builder.build(request, len).text


def test_allow_jailbreak_false_leaves_post_history_out(
    builder: PromptBuilder, st_ref: Path
) -> None:
    legacy = json.loads((st_ref / LEGACY_10 / "context" / "Llama 3 Instruct.json").read_text())
    assert legacy["allow_jailbreak"] is False
    assert "Stay in character." not in _prompt(builder, st_ref, LEGACY_10)
    # SillyTavern 1.18 dropped the switch: post-history instructions always go in.
    assert "Stay in character." in _prompt(builder, st_ref, "")


def test_dropped_instruct_values_are_reported(st_ref: Path) -> None:
    result = import_st_file(st_ref / LEGACY_10 / "instruct" / "Synthia.json")
    assert result.report == (
        'system_sequence_prefix = "SYSTEM: ": not used '
        "(removed in SillyTavern 1.13; story_string_prefix replaced it)",
    )
    assert import_st_file(st_ref / "instruct" / "Llama 3 Instruct.json").report == ()


@pytest.mark.parametrize("helper", ["each", "with", "lookup"])
def test_an_unsupported_block_is_refused_at_import(tmp_path: Path, helper: str) -> None:
    path = tmp_path / "Lists.json"
    story = f"{{{{#{helper} items}}}}{{{{this}}}}{{{{/{helper}}}}}{{{{description}}}}"
    path.write_text(json.dumps({"name": "Lists", "story_string": story}))
    with pytest.raises(TemplateError) as info:
        import_st_file(path)
    message = str(info.value)
    assert str(path) in message and f"{{{{#{helper}}}}}" in message and "story_string" in message


def _settings(**power: Any) -> dict[str, Any]:
    return {
        "power_user": {
            "instruct": {
                "enabled": True,
                "preset": "Llama 3 Instruct",
                "input_sequence": "<|start_header_id|>user<|end_header_id|>\\n\\n",
                "output_sequence": "<|start_header_id|>assistant<|end_header_id|>\\n\\n",
            },
            "context": {"preset": "Llama 3 Instruct", "story_string": "{{description}}"},
            "sysprompt": {"enabled": True, "name": "Actor", "content": "Act."},
            **power,
        }
    }


def test_settings_json_is_one_format_named_after_the_instruct_preset() -> None:
    result = import_st_data(_settings(), source="settings.json")
    assert result.name == "Llama 3 Instruct"
    assert result.instruct is not None and result.context is not None
    assert result.sysprompt is not None and result.sysprompt.content == "Act."
    assert result.report == ()


def test_settings_json_switches_and_prompt_settings_are_reported() -> None:
    data = _settings(pin_examples=True, always_force_name2=False)
    data["power_user"]["sysprompt"]["enabled"] = False
    data["world_info_settings"] = {
        "world_info_depth": 5,
        "world_info": {"globalSelect": ["Eldoria"]},
    }
    result = import_st_data(data, source="settings.json")
    assert result.sysprompt is not None and result.sysprompt.content == ""
    assert result.context is not None and result.context.always_force_name2 is False
    keys = [line.split(" = ")[0] for line in result.report]
    assert keys == [
        "power_user.sysprompt.enabled",
        "power_user.pin_examples",
        "world_info_settings.world_info_depth",
        "world_info_settings.world_info.globalSelect",
    ]
