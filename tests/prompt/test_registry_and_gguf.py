"""Bundled formats, auto-selection, the GGUF format and the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import NotFound, TemplateError
from app.prompt.assemble import PromptBuilder
from app.prompt.formats import ContextTemplate, PromptFormat, PromptPosition
from app.prompt.registry import FormatRegistry, detect_format_name, load_template_file
from app.prompt.sandbox import TemplateSandbox
from app.prompt.st_import import format_from_st_files
from app.prompt.types import (
    AuthorNote,
    CharacterInfo,
    ChatMessage,
    ModelInfo,
    Persona,
    PromptRequest,
)
from app.prompt.worldinfo import WIEntry, WIPosition
from tests.prompt.helpers import BASIC_CHAT, request

BUNDLED = {
    "Llama-3-Instruct-Names": "Llama-3-Instruct-Names",
    "Llama 3 Instruct": "Llama 3 Instruct",
    "ChatML": "ChatML",
    "ChatML-Names": "ChatML-Names",
    "Mistral V7": "Mistral V7",
    "Mistral V3-Tekken": "Mistral V3-Tekken",
    "Alpaca": "Alpaca",
    "Gemma 2": "Gemma 2",
    "Command R": "Command R",
}
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
RICH_CHAT = (
    *BASIC_CHAT,
    ChatMessage("Seraphina", "Reply about the forest", False),
    ChatMessage("User", "Tell me more", True),
)


def test_bundled_formats_load(registry: FormatRegistry) -> None:
    assert set(registry.names()) == {
        *BUNDLED,
        "Default",
        "GGUF",
        "Llama-3-Instruct-Names (2024-04)",
    }
    assert registry.get("chatml").name == "ChatML"
    with pytest.raises(NotFound):
        registry.get("Vicuna")


def rich_request(fmt: PromptFormat) -> PromptRequest:
    character = CharacterInfo(
        "Seraphina",
        description="DESC about {{user}}",
        personality="PERS",
        scenario="SCEN",
        examples="<START>\n{{user}}: Hello\n{{char}}: Hi there",
    )
    lore = [
        WIEntry(1, ("forest",), "Forest lore.", position=WIPosition.BEFORE),
        WIEntry(2, (), "After lore.", constant=True, position=WIPosition.AFTER),
    ]
    return request(
        fmt,
        RICH_CHAT,
        character=character,
        persona=Persona("User", "A traveller."),
        author_note=AuthorNote("AN after scenario", position=PromptPosition.IN_PROMPT),
        lore=lore,
        post_history="Write one reply.",
    )


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_jinja_matches_sillytavern_json(
    name: str, builder: PromptBuilder, registry: FormatRegistry, st_ref: Path
) -> None:
    ref = BUNDLED[name]
    imported = format_from_st_files(
        st_ref / "instruct" / f"{ref}.json", st_ref / "context" / f"{ref}.json"
    )
    bundled = builder.build(rich_request(registry.get(name)), len)
    expected = builder.build(rich_request(imported), len)
    assert bundled.text == expected.text
    assert bundled.stop == expected.stop
    assert "Forest lore." in bundled.text and "AN after scenario" in bundled.text


def test_legacy_bundled_matches_legacy_json(
    builder: PromptBuilder, registry: FormatRegistry, st_ref: Path
) -> None:
    legacy = st_ref / "legacy-2024" / "2024-04-27_3a8b8ed63"
    imported = format_from_st_files(
        legacy / "instruct" / "Llama-3-Instruct-Names.json",
        legacy / "context" / "Llama-3-Instruct-Names.json",
    )
    bundled = registry.get("Llama-3-Instruct-Names (2024-04)")
    assert bundled.system_prompt.content == imported.system_prompt.content
    assert (
        builder.build(rich_request(bundled), len).text
        == builder.build(rich_request(imported), len).text
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ '<|start_header_id|>' + message['role'] }}", "Llama 3 Instruct"),
        (SMOLLM2_TEMPLATE, "ChatML"),
        ("{{ '[SYSTEM_PROMPT]' + x + '[INST]' }}", "Mistral V7"),
        ("{{ '[INST]' + m + '[/INST]' }}", "Mistral V3-Tekken"),
        ("{{ '<start_of_turn>' + role }}", "Gemma 2"),
        ("<|START_OF_TURN_TOKEN|><|USER_TOKEN|>", "Command R"),
        ("### Instruction:\n{{ x }}\n### Response:", "Alpaca"),
    ],
)
def test_detect_format_from_the_chat_template(
    template: str, expected: str, registry: FormatRegistry
) -> None:
    assert detect_format_name(template) == expected
    assert registry.select(None, ModelInfo(chat_template=template)).name == expected


def test_select_falls_back_and_honours_overrides(registry: FormatRegistry) -> None:
    assert registry.select(None, ModelInfo()).name == "Default"
    assert registry.select(None, ModelInfo(chat_template="{{ messages }}")).name == "GGUF"
    assert (
        registry.select("ChatML-Names", ModelInfo(chat_template=SMOLLM2_TEMPLATE)).name
        == "ChatML-Names"
    )
    fmt = registry.get("Alpaca")
    registry.add(
        fmt.model_copy(
            update={
                "name": "Mine",
                "instruct": fmt.instruct.model_copy(  # type: ignore[union-attr]
                    update={"activation_regex": "/smol/i"}
                ),
            }
        )
    )
    assert registry.select(None, ModelInfo(name="SmolThing-135M")).name == "Mine"


GGUF_MODEL = ModelInfo(
    chat_template=SMOLLM2_TEMPLATE, bos_token="<|im_start|>", eos_token="<|im_end|>"
)


def test_gguf_format_renders_the_model_template(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(request(registry.get("GGUF"), model=GGUF_MODEL), len)
    assert built.text == (
        "<|im_start|>system\nSYS\nDESC\nPERS\nSCEN<|im_end|>\n"
        "<|im_start|>assistant\nGREETING<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert built.stop[0] == "<|im_end|>"
    assert "".join(s.text for s in built.segments) == built.text
    assert [s.kind for s in built.segments] == ["story", "message", "message", "generation"]


def test_gguf_format_continue_and_impersonate(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    history = (*BASIC_CHAT, ChatMessage("Seraphina", "The partial", False))
    fmt = registry.get("GGUF")
    cont = builder.build(request(fmt, history, model=GGUF_MODEL, generation="continue"), len)
    assert cont.text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nThe partial")
    imp = builder.build(request(fmt, history, model=GGUF_MODEL, generation="impersonate"), len)
    assert imp.text.endswith("<|im_start|>assistant\nThe partial<|im_end|>\n<|im_start|>user\n")


def test_gguf_format_trims_old_messages(builder: PromptBuilder, registry: FormatRegistry) -> None:
    history = [
        ChatMessage("User" if i % 2 else "Seraphina", f"message number {i}", bool(i % 2))
        for i in range(30)
    ]
    settings_request = request(
        registry.get("GGUF"), history, model=GGUF_MODEL, n_ctx=700, max_new_tokens=100
    )
    built = builder.build(settings_request, len)
    assert built.n_tokens + 64 <= 600
    assert "message number 29" in built.text and "message number 0\n" not in built.text
    assert built.messages_in_context < 30


def test_gguf_format_needs_a_template(builder: PromptBuilder, registry: FormatRegistry) -> None:
    with pytest.raises(TemplateError, match="GGUF"):
        builder.build(request(registry.get("GGUF")), len)


def test_sandbox_blocks_escapes_in_story_strings(builder: PromptBuilder) -> None:
    evil = PromptFormat(
        name="Evil",
        context=ContextTemplate(
            story_string="{{ ''.__class__.__mro__ }}", story_string_syntax="jinja"
        ),
        source="templates/evil.jinja",
    )
    with pytest.raises(TemplateError) as info:
        builder.build(request(evil), len)
    assert str(info.value).startswith("templates/evil.jinja: ")
    assert "unsafe" in str(info.value)


def test_bad_template_files_name_the_file(tmp_path: Path, sandbox: TemplateSandbox) -> None:
    broken = tmp_path / "broken.jinja"
    broken.write_text("---\nname: Broken\ninstruct: null\n---\n{% if system %}never closed\n")
    with pytest.raises(TemplateError, match=r"broken\.jinja: line"):
        load_template_file(broken, sandbox)
    typo = tmp_path / "typo.jinja"
    typo.write_text("---\nname: Typo\ncontext:\n  chat_strat: x\n---\n{{ system }}\n")
    with pytest.raises(TemplateError, match=r"typo\.jinja: key 'context\.chat_strat'"):
        load_template_file(typo, sandbox)
    bare = tmp_path / "bare.jinja"
    bare.write_text("{{ system }}\n")
    with pytest.raises(TemplateError, match="front matter"):
        load_template_file(bare, sandbox)


def test_gguf_format_leaves_bos_to_the_engine(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    template = (
        "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
    )
    model = ModelInfo(chat_template=template, bos_token="<s>", eos_token="</s>")
    built = builder.build(request(registry.get("GGUF"), model=model), len)
    assert built.text == "[system]SYS\nDESC\nPERS\nSCEN[assistant]GREETING[user]Hi"
