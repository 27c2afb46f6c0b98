"""Prompt itemization: a built prompt split into labelled parts with token counts."""

from __future__ import annotations

from app.prompt.assemble import PromptBuilder
from app.prompt.itemize import WORLD_INFO_LABEL, PromptPart, itemize
from app.prompt.registry import FormatRegistry
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import AuthorNote, BuiltPrompt, CharacterInfo, ChatMessage, Segment
from app.prompt.worldinfo import WIEntry, WIPosition
from tests.prompt.helpers import request


def built(*segments: Segment, world_info: tuple[WIEntry, ...] = ()) -> BuiltPrompt:
    text = "".join(s.text for s in segments)
    return BuiltPrompt(text, (), len(text), segments, "test", 0, 0, world_info=world_info)


def test_parts_follow_the_segment_kinds_in_order_of_appearance() -> None:
    prompt = built(
        Segment("story", "SYSTEM "),
        Segment("examples", "EX1 "),
        Segment("examples", "EX2 "),
        Segment("message", "Hi. ", message_index=0),
        Segment("injection", "[Note] ", volatile=True),
        Segment("message", "Hello. ", message_index=1),
        Segment("post_history", "Be brief. ", volatile=True),
        Segment("generation", "Bot:", volatile=True),
    )
    parts = itemize(prompt, len)
    assert parts == [
        PromptPart("Story string", 7, "SYSTEM "),
        PromptPart("Example dialogue", 8, "EX1 EX2 "),
        PromptPart("Chat history", 11, "Hi. Hello. "),
        PromptPart("Author's note and in-chat injections", 7, "[Note] "),
        PromptPart("Post-history instructions", 10, "Be brief. "),
        PromptPart("Reply prefix", 4, "Bot:"),
    ]


def test_world_info_is_cut_out_of_the_parts_that_hold_it() -> None:
    lore = (
        WIEntry(uid=1, content="The moon is red."),
        WIEntry(uid=2, content="Rain falls upward.", position=WIPosition.AT_DEPTH),
        WIEntry(uid=3, content="Never placed."),
    )
    prompt = built(
        Segment("story", "Intro. The moon is red. Outro."),
        Segment("message", "The moon is red, she says.", message_index=0),
        Segment("injection", "[Rain falls upward.]"),
        world_info=lore,
    )
    parts = {part.label: part.text for part in itemize(prompt, len)}
    assert parts == {
        "Story string": "Intro.  Outro.",
        WORLD_INFO_LABEL: "The moon is red.Rain falls upward.",
        "Chat history": "The moon is red, she says.",  # history is never lore
        "Author's note and in-chat injections": "[]",
    }


def test_a_real_prompt_is_split_without_losing_a_character(
    registry: FormatRegistry, sandbox: TemplateSandbox
) -> None:
    fmt = registry.get("Llama-3-Instruct-Names")
    history = [
        ChatMessage("Seraphina", "Welcome to the glade.", False),
        ChatMessage("User", "Tell me about the moon.", True),
        ChatMessage("Seraphina", "It glows.", False),
        ChatMessage("User", "Why is the moon so bright?", True),
    ]
    character = CharacterInfo(
        "Seraphina", description="A guardian.", examples="<START>\n{{char}}: Hush."
    )
    lore = [
        WIEntry(uid=1, keys=("moon",), content="The moon is red here."),
        WIEntry(uid=2, constant=True, content="Magic is old.", position=WIPosition.AT_DEPTH),
    ]
    req = request(
        fmt,
        history,
        character=character,
        post_history="Stay in character.",
        author_note=AuthorNote("Mood: calm.", depth=1),
        lore=lore,
    )
    prompt = PromptBuilder(sandbox).build(req, len)
    parts = itemize(prompt, len)
    labels = [part.label for part in parts]
    for label in (
        "Story string",
        "Example dialogue",
        WORLD_INFO_LABEL,
        "Chat history",
        "Author's note and in-chat injections",
        "Post-history instructions",
    ):
        assert label in labels, labels
    assert sum(part.tokens for part in parts) == prompt.n_tokens == len(prompt.text)
    by_label = {part.label: part.text for part in parts}
    assert by_label[WORLD_INFO_LABEL] == "The moon is red here.Magic is old."
    assert "Mood: calm." in by_label["Author's note and in-chat injections"]
