"""The worked renderings of sillytavern-formats.md §2.7, byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.prompt.assemble import PromptBuilder
from app.prompt.formats import PromptFormat, SystemPrompt
from app.prompt.registry import FormatRegistry
from app.prompt.st_import import format_from_st_files
from app.prompt.types import BuiltPrompt, CharacterInfo, ChatMessage, PromptRequest, PromptSettings

LEGACY_04 = "legacy-2024/2024-04-27_3a8b8ed63"
LEGACY_10 = "legacy-2024/2024-10-18_staging_1ac6780e"


def render(builder: PromptBuilder, fmt: PromptFormat, count: Callable[[str], int]) -> BuiltPrompt:
    """The §2.7 inputs: SYS / DESC / PERS / SCEN, greeting then "Hi"."""
    request = PromptRequest(
        format=fmt,
        character=CharacterInfo(
            "Seraphina", description="DESC", personality="PERS", scenario="SCEN"
        ),
        history=[ChatMessage("Seraphina", "GREETING", False), ChatMessage("User", "Hi", True)],
        n_ctx=8192,
        max_new_tokens=350,
        settings=PromptSettings(system_prompt=SystemPrompt(content="SYS")),
    )
    return builder.build(request, count)


def test_llama3_names_2024_04_bundled(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = render(builder, registry.get("Llama-3-Instruct-Names (2024-04)"), len)
    assert built.text == (
        "<|start_header_id|>system<|end_header_id|>\n\nSYS\nDESC\nSeraphina's personality: PERS\n"
        "Scenario: SCEN<|eot_id|><|start_header_id|>[Seraphina]<|end_header_id|>\n\nGREETING"
        "<|eot_id|><|start_header_id|>[User]<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>[Seraphina]<|end_header_id|>\n\n"
    )


def test_llama3_names_2024_04_imported(builder: PromptBuilder, st_ref: Path) -> None:
    fmt = format_from_st_files(
        st_ref / LEGACY_04 / "instruct" / "Llama-3-Instruct-Names.json",
        st_ref / LEGACY_04 / "context" / "Llama-3-Instruct-Names.json",
    )
    assert fmt.system_prompt.name == "[Migrated] Llama-3-Instruct-Names"
    assert render(builder, fmt, len).text == (
        "<|start_header_id|>system<|end_header_id|>\n\nSYS\nDESC\nSeraphina's personality: PERS\n"
        "Scenario: SCEN<|eot_id|><|start_header_id|>[Seraphina]<|end_header_id|>\n\nGREETING"
        "<|eot_id|><|start_header_id|>[User]<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>[Seraphina]<|end_header_id|>\n\n"
    )


def test_llama3_names_current(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = render(builder, registry.get("Llama-3-Instruct-Names"), len)
    assert built.text == (
        "<|start_header_id|>system<|end_header_id|>\n\nSYS\nDESC\nPERS\nSCEN<|eot_id|>"
        "<|start_header_id|>Seraphina<|end_header_id|>\n\nGREETING<|eot_id|>"
        "<|start_header_id|>User<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>Seraphina<|end_header_id|>\n\n"
    )


def test_llama3_instruct_current(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = render(builder, registry.get("Llama 3 Instruct"), len)
    assert built.text == (
        "<|start_header_id|>system<|end_header_id|>\n\nSYS\nDESC\nPERS\nSCEN<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nGREETING<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_llama3_instruct_2024_10_imported(builder: PromptBuilder, st_ref: Path) -> None:
    fmt = format_from_st_files(
        st_ref / LEGACY_10 / "instruct" / "Llama 3 Instruct.json",
        st_ref / LEGACY_10 / "context" / "Llama 3 Instruct.json",
    )
    assert fmt.instruct is not None and fmt.instruct.names_behavior == "always"
    assert render(builder, fmt, len).text == (
        "<|start_header_id|>system<|end_header_id|>\n\nSYS\nDESC\nSeraphina's personality: PERS\n"
        "Scenario: SCEN<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        "Seraphina: GREETING<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nUser: Hi"
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nSeraphina:"
    )


def test_default_non_instruct(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = render(builder, registry.get("Default"), len)
    assert built.text == "SYS\nDESC\nPERS\nSCEN\n***\nSeraphina: GREETING\nUser: Hi\nSeraphina:"


def test_default_imported_matches_bundled(
    builder: PromptBuilder, registry: FormatRegistry, st_ref: Path
) -> None:
    imported = format_from_st_files(None, st_ref / "context" / "Default.json")
    assert render(builder, imported, len).text == render(builder, registry.get("Default"), len).text


def test_stop_strings_llama3_names(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = render(builder, registry.get("Llama-3-Instruct-Names"), len)
    assert built.stop == (
        "\nUser:",
        "<|eot_id|>",
        "<|start_header_id|>User<|end_header_id|>",
        "<|start_header_id|>Seraphina<|end_header_id|>",
        "<|start_header_id|>system<|end_header_id|>",
    )


def test_stop_strings_default_context(builder: PromptBuilder, registry: FormatRegistry) -> None:
    assert render(builder, registry.get("Default"), len).stop == ("\nUser:",)


def test_segments_join_to_text(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = render(builder, registry.get("Llama-3-Instruct-Names"), len)
    assert "".join(s.text for s in built.segments) == built.text
    assert [s.kind for s in built.segments] == ["story", "message", "message", "generation"]
    assert built.segments[-1].text == "<|start_header_id|>Seraphina<|end_header_id|>\n\n"
    assert built.n_tokens == len(built.text)
    assert built.messages_in_context == 2
