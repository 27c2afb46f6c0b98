"""Prompt assembly (§6): names, examples, post-history, notes, persona, story string."""

from __future__ import annotations

from dataclasses import replace

from app.prompt.assemble import PromptBuilder
from app.prompt.formats import PromptPosition, Role, SystemPrompt
from app.prompt.registry import FormatRegistry
from app.prompt.types import (
    AuthorNote,
    ChatMessage,
    DepthPrompt,
    Persona,
    PersonaPosition,
    PromptSettings,
)
from tests.prompt.helpers import (
    BASIC_CHAT,
    LLAMA3_STORY,
    SERAPHINA,
    request,
    with_context,
    with_instruct,
)

CHATML_STORY = "<|im_start|>system\nSYS\nDESC\nPERS\nSCEN<|im_end|>\n"
PERSONA_CHAT = (
    ChatMessage("Seraphina", "GREETING", False),
    ChatMessage("Old", "Earlier", True, force_avatar=True),
    ChatMessage("Seraphina", "Reply", False),
    ChatMessage("User", "Hi", True, force_avatar=True),
)


def test_names_behavior_force_in_a_one_to_one_chat(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(request(registry.get("ChatML")), len)
    assert built.text == CHATML_STORY + (
        "<|im_start|>assistant\nGREETING<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_names_behavior_always(builder: PromptBuilder, registry: FormatRegistry) -> None:
    fmt = with_instruct(registry.get("ChatML"), names_behavior="always")
    assert builder.build(request(fmt), len).text == CHATML_STORY + (
        "<|im_start|>assistant\nSeraphina: GREETING<|im_end|>\n"
        "<|im_start|>user\nUser: Hi<|im_end|>\n"
        "<|im_start|>assistant\nSeraphina:"
    )


def test_names_behavior_force_names_past_personas(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(request(registry.get("ChatML"), PERSONA_CHAT), len)
    assert built.text == CHATML_STORY + (
        "<|im_start|>assistant\nGREETING<|im_end|>\n<|im_start|>user\nOld: Earlier<|im_end|>\n"
        "<|im_start|>assistant\nReply<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_names_behavior_none(builder: PromptBuilder, registry: FormatRegistry) -> None:
    fmt = with_instruct(registry.get("ChatML"), names_behavior="none")
    assert builder.build(request(fmt, PERSONA_CHAT), len).text == CHATML_STORY + (
        "<|im_start|>assistant\nGREETING<|im_end|>\n<|im_start|>user\nEarlier<|im_end|>\n"
        "<|im_start|>assistant\nReply<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


EXAMPLES = (
    "<START>\n{{user}}: Hello\n{{char}}: Hi there\n<START>\n{{user}}: How are you?\n{{char}}: Fine."
)


def test_examples_instruct_formatted(builder: PromptBuilder, registry: FormatRegistry) -> None:
    character = replace(SERAPHINA, examples=EXAMPLES)
    built = builder.build(request(registry.get("Llama 3 Instruct"), character=character), len)
    user, bot = (
        "<|start_header_id|>user<|end_header_id|>\n\n",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    )
    assert built.text == (
        LLAMA3_STORY
        + f"{user}User: Hello<|eot_id|>{bot}Hi there<|eot_id|>"
        + f"{user}User: How are you?<|eot_id|>{bot}Fine.<|eot_id|>"
        + f"{bot}GREETING<|eot_id|>{user}Hi<|eot_id|>{bot}"
    )
    assert built.examples_in_context == 4
    assert [s.kind for s in built.segments].count("examples") == 4


def test_examples_non_instruct_use_the_separator(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    character = replace(SERAPHINA, examples="{{user}}: Yo\n{{char}}: Hey")
    built = builder.build(request(registry.get("Default"), character=character), len)
    assert built.text == (
        "SYS\nDESC\nPERS\nSCEN\n***\nUser: Yo\nSeraphina: Hey\n"
        "***\nSeraphina: GREETING\nUser: Hi\nSeraphina:"
    )


def test_examples_with_wrap_and_always_names(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    fmt = with_instruct(registry.get("ChatML"), names_behavior="always")
    character = replace(SERAPHINA, examples="<START>\n{{user}}: Hello\n{{char}}: Hi there")
    built = builder.build(request(fmt, character=character), len)
    assert built.text.startswith(
        CHATML_STORY + "<|im_start|>user\nUser: Hello<|im_end|>\n"
        "<|im_start|>assistant\nSeraphina: Hi there<|im_end|>\n"
        "<|im_start|>assistant\nSeraphina: GREETING"
    )


def test_post_history_instructions_with_original(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    character = replace(SERAPHINA, post_history_instructions="Stay in character. {{original}}")
    built = builder.build(
        request(
            registry.get("Llama-3-Instruct-Names"), character=character, post_history="Be brief."
        ),
        len,
    )
    assert built.text.endswith(
        "<|start_header_id|>User<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>System<|end_header_id|>\n\nStay in character. Be brief.<|eot_id|>"
        "<|start_header_id|>Seraphina<|end_header_id|>\n\n"
    )
    kinds = [s.kind for s in built.segments]
    assert kinds[-2:] == ["post_history", "generation"]


def test_post_history_non_instruct_has_no_name(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(request(registry.get("Default"), post_history="Be brief."), len)
    assert built.text.endswith("User: Hi\nBe brief.\nSeraphina:")


def test_card_system_prompt_overrides_with_original(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    character = replace(SERAPHINA, system_prompt="{{original}} Also, be {{char}}.")
    fmt = registry.get("Llama 3 Instruct")
    built = builder.build(request(fmt, character=character), len)
    assert built.text.startswith(
        "<|start_header_id|>system<|end_header_id|>\n\nSYS Also, be Seraphina.\nDESC"
    )
    settings = PromptSettings(
        system_prompt=SystemPrompt(content="SYS"), prefer_character_prompt=False
    )
    built = builder.build(request(fmt, character=character, settings=settings), len)
    assert built.text.startswith(LLAMA3_STORY)
    off = PromptSettings(system_prompt=SystemPrompt(content="SYS"), sysprompt_enabled=False)
    built = builder.build(request(fmt, settings=off), len)
    assert built.text.startswith(
        "<|start_header_id|>system<|end_header_id|>\n\nDESC\nPERS\nSCEN<|eot_id|>"
    )


def test_bundled_system_prompt_is_used_by_default(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    settings = PromptSettings()
    built = builder.build(
        request(registry.get("Llama-3-Instruct-Names (2024-04)"), settings=settings), len
    )
    assert built.text.startswith(
        "<|start_header_id|>system<|end_header_id|>\n\n"
        "You are an expert actor that can fully immerse"
    )
    assert "Currently your role is Seraphina" in built.text
    assert "continue the exchange with User.\nDESC" in built.text


def test_if_and_trim_in_a_custom_story_string(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    story = (
        "{{#if scenario}}Scene: {{scenario}}\n{{/if}}"
        "{{#unless personality}}No personality.\n{{/unless}}\n\n{{trim}}\n\nEnd of {{char}}"
    )
    fmt = with_context(
        registry.get("Default"), story_string=story, story_string_syntax="handlebars"
    )
    character = replace(SERAPHINA, personality="")
    built = builder.build(request(fmt, character=character), len)
    assert built.text.startswith("Scene: SCEN\nNo personality.End of Seraphina\n***\n")


MORE_CHAT = (
    *BASIC_CHAT,
    ChatMessage("Seraphina", "Reply", False),
    ChatMessage("User", "More", True),
)
L3_USER = "<|start_header_id|>user<|end_header_id|>\n\n"
L3_BOT = "<|start_header_id|>assistant<|end_header_id|>\n\n"
L3_SYS = "<|start_header_id|>system<|end_header_id|>\n\n"


def test_author_note_at_depth(builder: PromptBuilder, registry: FormatRegistry) -> None:
    note = AuthorNote("Note for {{char}}", depth=1)
    built = builder.build(
        request(registry.get("Llama 3 Instruct"), MORE_CHAT, author_note=note), len
    )
    assert built.text == LLAMA3_STORY + (
        f"{L3_BOT}GREETING<|eot_id|>{L3_USER}Hi<|eot_id|>{L3_BOT}Reply<|eot_id|>"
        f"{L3_SYS}Note for Seraphina<|eot_id|>{L3_USER}More<|eot_id|>{L3_BOT}"
    )
    injected = [s for s in built.segments if s.kind == "injection"]
    assert len(injected) == 1 and injected[0].volatile
    assert built.stable_prefix().endswith("Reply<|eot_id|>")


def test_author_note_depth_zero_and_interval(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    fmt = registry.get("Llama 3 Instruct")
    at_end = builder.build(request(fmt, MORE_CHAT, author_note=AuthorNote("AN", depth=0)), len)
    assert at_end.text.endswith(f"More<|eot_id|>{L3_SYS}AN<|eot_id|>{L3_BOT}")
    every_second = builder.build(
        request(fmt, MORE_CHAT, author_note=AuthorNote("AN", interval=2)), len
    )
    assert "AN<|eot_id|>" in every_second.text
    every_third = builder.build(
        request(fmt, MORE_CHAT, author_note=AuthorNote("AN", interval=3)), len
    )
    assert "AN" not in every_third.text
    never = builder.build(request(fmt, MORE_CHAT, author_note=AuthorNote("AN", interval=0)), len)
    assert "AN" not in never.text
    greeting_only = builder.build(request(fmt, BASIC_CHAT[:1], author_note=AuthorNote("AN")), len)
    assert "AN" not in greeting_only.text


def test_author_note_in_the_story_string_anchors(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    fmt = registry.get("Llama 3 Instruct")
    after = AuthorNote("AN", position=PromptPosition.IN_PROMPT)
    assert builder.build(request(fmt, author_note=after), len).text.startswith(
        f"{L3_SYS}SYS\nDESC\nPERS\nSCEN\nAN<|eot_id|>"
    )
    before = AuthorNote("AN", position=PromptPosition.BEFORE_PROMPT)
    assert builder.build(request(fmt, author_note=before), len).text.startswith(
        f"{L3_SYS}AN\nSYS\nDESC"
    )


def test_character_note_and_roles_at_one_depth(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    character = replace(SERAPHINA, depth_prompt=DepthPrompt("Char note", depth=1))
    notes = AuthorNote("AN", depth=1)
    persona = Persona("User", "PERSONA", PersonaPosition.AT_DEPTH, depth=1, role=Role.USER)
    built = builder.build(
        request(
            registry.get("Llama 3 Instruct"),
            MORE_CHAT,
            character=character,
            author_note=notes,
            persona=persona,
        ),
        len,
    )
    assert (
        f"Reply<|eot_id|>{L3_USER}PERSONA<|eot_id|>{L3_SYS}AN\nChar note<|eot_id|>{L3_USER}More"
        in built.text
    )


def test_injections_in_non_instruct_mode(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = builder.build(
        request(registry.get("Default"), MORE_CHAT, author_note=AuthorNote("AN", depth=1)), len
    )
    assert built.text.endswith("Seraphina: Reply\nAN\nUser: More\nSeraphina:")


def test_system_role_injection_takes_the_char_name_in_names_templates(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = builder.build(
        request(
            registry.get("Llama-3-Instruct-Names"), MORE_CHAT, author_note=AuthorNote("AN", depth=1)
        ),
        len,
    )
    assert (
        "Reply<|eot_id|><|start_header_id|>Seraphina<|end_header_id|>\n\nAN<|eot_id|>" in built.text
    )


def test_persona_positions(builder: PromptBuilder, registry: FormatRegistry) -> None:
    fmt = registry.get("Default")
    in_prompt = Persona("User", "I am {{user}}.")
    assert builder.build(request(fmt, persona=in_prompt), len).text.startswith(
        "SYS\nDESC\nPERS\nSCEN\nI am User.\n***"
    )
    top = Persona("User", "PERSONA", PersonaPosition.TOP_AN)
    built = builder.build(
        request(fmt, MORE_CHAT, persona=top, author_note=AuthorNote("AN", depth=1)), len
    )
    assert "Seraphina: Reply\nPERSONA\nAN\nUser: More" in built.text
    assert "SCEN\nPERSONA" not in built.text
    bottom = Persona("User", "PERSONA", PersonaPosition.BOTTOM_AN)
    built = builder.build(
        request(fmt, MORE_CHAT, persona=bottom, author_note=AuthorNote("AN", depth=1)), len
    )
    assert "Seraphina: Reply\nAN\nPERSONA\nUser: More" in built.text
    depth = Persona("User", "PERSONA", PersonaPosition.AT_DEPTH, depth=2)
    built = builder.build(request(fmt, MORE_CHAT, persona=depth), len)
    assert "User: Hi\nPERSONA\nSeraphina: Reply" in built.text


def test_story_string_in_chat(builder: PromptBuilder, registry: FormatRegistry) -> None:
    fmt = with_context(
        registry.get("Llama 3 Instruct"), story_string_position=1, story_string_depth=1
    )
    built = builder.build(request(fmt), len)
    assert built.text == (
        f"{L3_BOT}GREETING<|eot_id|>{L3_SYS}SYS\nDESC\nPERS\nSCEN<|eot_id|>{L3_USER}Hi<|eot_id|>{L3_BOT}"
    )


def test_user_alignment_message(builder: PromptBuilder, registry: FormatRegistry) -> None:
    built = builder.build(request(registry.get("Mistral V3-Tekken")), len)
    assert built.text == (
        "[INST]SYS\nDESC\nPERS\nSCEN[/INST]Understood.</s>"
        "[INST]Let's get started. Please respond based on the information and instructions "
        "provided above.[/INST]GREETING</s>[INST]Hi[/INST]"
    )
    assert [s.kind for s in built.segments][1] == "alignment"


def test_hidden_and_narrator_messages(builder: PromptBuilder, registry: FormatRegistry) -> None:
    history = (
        *BASIC_CHAT,
        ChatMessage("Seraphina", "secret", False, hidden=True),
        ChatMessage("Narrator", "Night falls.", False, narrator=True),
    )
    built = builder.build(request(registry.get("Llama 3 Instruct"), history), len)
    assert "secret" not in built.text
    assert built.text.endswith(f"Hi<|eot_id|>{L3_SYS}Night falls.<|eot_id|>{L3_BOT}")
    default = builder.build(request(registry.get("Default"), history), len)
    assert default.text.endswith("User: Hi\nNight falls.\nSeraphina:")


def test_greeting_macros_are_substituted(builder: PromptBuilder, registry: FormatRegistry) -> None:
    history = (
        ChatMessage("Seraphina", "Welcome, {{user}}.", False),
        ChatMessage("Ann", "{{char}}?", True),
    )
    built = builder.build(request(registry.get("Default"), history, persona=Persona("Ann")), len)
    assert "Seraphina: Welcome, Ann.\nAnn: {{char}}?\nSeraphina:" in built.text
    assert builder.substitute("Hi {{char}}", request(registry.get("Default"))) == "Hi Seraphina"


def test_collapse_newlines_keeps_segments_consistent(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    settings = PromptSettings(
        system_prompt=SystemPrompt(content="SYS\n\n\n"), collapse_newlines=True
    )
    history = (ChatMessage("Seraphina", "A\n\n\nB", False), ChatMessage("User", "Hi\n\n", True))
    built = builder.build(request(registry.get("Default"), history, settings=settings), len)
    assert "\n\n" not in built.text
    assert built.text == "SYS\nDESC\nPERS\nSCEN\n***\nSeraphina: A\nB\nUser: Hi\nSeraphina:"
    assert "".join(s.text for s in built.segments) == built.text


def test_pick_is_stable_across_builds(builder: PromptBuilder, registry: FormatRegistry) -> None:
    character = replace(SERAPHINA, description="Mood: {{pick::happy::sad::angry::calm::tired}}")
    texts = {
        builder.build(request(registry.get("Default"), character=character, chat_id="c1"), len).text
        for _ in range(5)
    }
    assert len(texts) == 1


def test_substitute_sees_card_fields(builder: PromptBuilder, registry: FormatRegistry) -> None:
    req = request(registry.get("Default"))
    assert (
        builder.substitute("{{char}} / {{description}} / {{user}}", req)
        == "Seraphina / DESC / User"
    )
