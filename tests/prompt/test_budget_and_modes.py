"""Trimming to the context budget (§6.3), Continue, Impersonate, Start Reply With, lore."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.errors import ContextLengthExceeded
from app.prompt.assemble import PromptBuilder
from app.prompt.formats import SystemPrompt
from app.prompt.registry import FormatRegistry
from app.prompt.types import CharacterInfo, ChatMessage, PromptSettings
from app.prompt.worldinfo import WIEntry, WIPosition
from tests.prompt.helpers import BASIC_CHAT, LLAMA3_STORY, SERAPHINA, request

SMALL_CHAT = (
    ChatMessage("Seraphina", "G0", False),
    ChatMessage("User", "U1", True),
    ChatMessage("Seraphina", "C2", False),
    ChatMessage("User", "U3", True),
)
BARE = CharacterInfo("Seraphina", examples="<START>\n{{user}}: E\n{{char}}: F")


def budget_request(registry: FormatRegistry, limit: int, *, padding: int = 0, pin: bool = False):  # type: ignore[no-untyped-def]
    settings = PromptSettings(
        system_prompt=SystemPrompt(content="SYS"), token_padding=padding, pin_examples=pin
    )
    return request(
        registry.get("Default"),
        SMALL_CHAT,
        character=BARE,
        settings=settings,
        n_ctx=limit + 100,
        max_new_tokens=100,
    )


# fixed part = "SYS\n" + "***\n" + "\nSeraphina:" = 19; messages newest first: 9, 14, 9, 14;
# the example block "***\nUser: E\nSeraphina: F\n" is 25 characters.


def test_history_is_trimmed_oldest_first(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = builder.build(budget_request(registry, 52), len)
    assert built.text == "SYS\n***\nUser: U1\nSeraphina: C2\nUser: U3\nSeraphina:"
    assert built.messages_in_context == 3
    assert built.examples_in_context == 0


def test_examples_are_dropped_before_history(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(budget_request(registry, 80), len)
    assert built.text == "SYS\n***\nSeraphina: G0\nUser: U1\nSeraphina: C2\nUser: U3\nSeraphina:"
    roomy = builder.build(budget_request(registry, 91), len)
    assert roomy.text == (
        "SYS\n***\nUser: E\nSeraphina: F\n"
        "***\nSeraphina: G0\nUser: U1\nSeraphina: C2\nUser: U3\nSeraphina:"
    )
    assert roomy.examples_in_context == 1


def test_token_padding_counts_against_the_budget(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    padded = builder.build(budget_request(registry, 52 + 64, padding=64), len)
    assert padded.text == builder.build(budget_request(registry, 52), len).text


def test_pinned_examples_are_counted_first(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(budget_request(registry, 80, pin=True), len)
    assert (
        built.text
        == "SYS\n***\nUser: E\nSeraphina: F\n***\nUser: U1\nSeraphina: C2\nUser: U3\nSeraphina:"
    )


def test_prompt_that_cannot_fit_raises(builder: PromptBuilder, registry: FormatRegistry) -> None:
    character = replace(SERAPHINA, description="x" * 500)
    with pytest.raises(ContextLengthExceeded):
        builder.build(
            request(registry.get("Default"), character=character, n_ctx=300, max_new_tokens=50), len
        )


L3_BOT = "<|start_header_id|>assistant<|end_header_id|>\n\n"
L3_USER = "<|start_header_id|>user<|end_header_id|>\n\n"
PARTIAL_CHAT = (*BASIC_CHAT, ChatMessage("Seraphina", "The partial", False))


def test_continue_instruct(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = builder.build(
        request(registry.get("Llama 3 Instruct"), PARTIAL_CHAT, generation="continue"), len
    )
    assert built.text == LLAMA3_STORY + (
        f"{L3_BOT}GREETING<|eot_id|>{L3_USER}Hi<|eot_id|>{L3_BOT}The partial"
    )
    assert built.continue_text == "The partial"
    assert built.segments[-1].kind == "continue"
    assert built.messages_in_context == 3


def test_continue_non_instruct(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = builder.build(
        request(registry.get("Default"), PARTIAL_CHAT, generation="continue"), len
    )
    assert (
        built.text
        == "SYS\nDESC\nPERS\nSCEN\n***\nSeraphina: GREETING\nUser: Hi\nSeraphina: The partial"
    )


def test_continue_puts_post_history_before_the_message(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(
        request(
            registry.get("Llama 3 Instruct"),
            PARTIAL_CHAT,
            generation="continue",
            post_history="PHI",
        ),
        len,
    )
    assert built.text.endswith(f"Hi<|eot_id|>{L3_USER}PHI<|eot_id|>{L3_BOT}The partial")


def test_continue_a_user_message_adds_the_char_stop(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(request(registry.get("Default"), BASIC_CHAT, generation="continue"), len)
    assert built.text.endswith("Seraphina: GREETING\nUser: Hi")
    assert built.stop == ("\nUser:", "\nSeraphina:")


def test_impersonate(builder: PromptBuilder, registry: FormatRegistry) -> None:
    history = (*BASIC_CHAT, ChatMessage("Seraphina", "Reply", False))
    instruct = builder.build(
        request(registry.get("Llama 3 Instruct"), history, generation="impersonate"), len
    )
    assert instruct.text.endswith(f"{L3_BOT}Reply<|eot_id|>{L3_USER}")
    plain = builder.build(request(registry.get("Default"), history, generation="impersonate"), len)
    assert plain.text.endswith("User: Hi\nSeraphina: Reply\nUser:")
    assert plain.stop == ("\nSeraphina:", "\nUser:")


def test_start_reply_with(builder: PromptBuilder, registry: FormatRegistry) -> None:
    settings = PromptSettings(
        system_prompt=SystemPrompt(content="SYS"), start_reply_with="*smiles* {{user}}"
    )
    instruct = builder.build(request(registry.get("Llama 3 Instruct"), settings=settings), len)
    assert instruct.text.endswith(f"Hi<|eot_id|>{L3_BOT}*smiles* User")
    assert instruct.reply_prefix == "*smiles* User"
    plain = builder.build(request(registry.get("Default"), settings=settings), len)
    assert plain.text.endswith("User: Hi\nSeraphina: *smiles* User")


def test_swipe_and_regenerate_drop_the_last_reply(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    history = (*BASIC_CHAT, ChatMessage("Seraphina", "Old reply", False))
    for generation in ("swipe", "regenerate"):
        built = builder.build(request(registry.get("Default"), history, generation=generation), len)
        assert "Old reply" not in built.text
        assert built.text.endswith("User: Hi\nSeraphina:")


def test_single_line_and_custom_stop_strings(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    fmt = registry.get("Default")
    fmt = fmt.model_copy(update={"context": fmt.context.model_copy(update={"single_line": True})})
    settings = PromptSettings(
        system_prompt=SystemPrompt(content="SYS"), custom_stop_strings=("{{char}} says",)
    )
    assert builder.build(request(fmt, settings=settings), len).stop == (
        "\n",
        "\nUser:",
        "Seraphina says",
    )


def test_world_info_in_the_prompt(builder: PromptBuilder, registry: FormatRegistry) -> None:
    lore = [
        WIEntry(1, ("hi",), "Greeting lore about {{char}}.", position=WIPosition.BEFORE),
        WIEntry(2, (), "Always after.", constant=True, position=WIPosition.AFTER),
        WIEntry(3, ("greeting",), "Deep lore.", position=WIPosition.AT_DEPTH, depth=1),
        WIEntry(4, ("dragon",), "Not mentioned."),
        WIEntry(
            5, (), "<START>\n{{user}}: Q\n{{char}}: A", constant=True, position=WIPosition.EM_BOTTOM
        ),
    ]
    built = builder.build(request(registry.get("Default"), lore=lore), len)
    assert built.text == (
        "SYS\nGreeting lore about Seraphina.\nDESC\nPERS\nSCEN\nAlways after.\n"
        "***\nUser: Q\nSeraphina: A\n"
        "***\nSeraphina: GREETING\nDeep lore.\nUser: Hi\nSeraphina:"
    )
    assert {e.uid for e in built.world_info} == {1, 2, 3, 5}
    assert next(s for s in built.segments if s.kind == "injection").text == "Deep lore.\n"


def test_world_info_budget_comes_from_the_prompt_budget(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    lore = [WIEntry(i, (), f"Lore {i} " + "x" * 40, constant=True, order=100 - i) for i in range(5)]
    built = builder.build(
        request(registry.get("Default"), lore=lore, n_ctx=600, max_new_tokens=200), len
    )
    assert [e.uid for e in built.world_info] == [0, 1]


def test_an_top_lore_joins_the_author_note(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    from app.prompt.types import AuthorNote

    lore = [WIEntry(1, (), "Top lore", constant=True, position=WIPosition.AN_TOP)]
    built = builder.build(
        request(registry.get("Default"), lore=lore, author_note=AuthorNote("AN", depth=0)), len
    )
    assert built.text.endswith("User: Hi\nTop lore\nAN\nSeraphina:")
