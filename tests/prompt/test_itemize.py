"""Prompt itemization: a built prompt split into labelled parts with token counts."""

from __future__ import annotations

import pytest

from app.prompt.assemble import PromptBuilder
from app.prompt.formats import PromptPosition
from app.prompt.itemize import (
    MEMORIES_LABEL,
    STORY_SO_FAR_LABEL,
    WORLD_INFO_LABEL,
    PromptPart,
    itemize,
)
from app.prompt.memory import MemoryPrompt, render_memories, render_story
from app.prompt.registry import FormatRegistry
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import (
    AuthorNote,
    BuiltPrompt,
    CharacterInfo,
    ChatMessage,
    ModelInfo,
    PromptSettings,
    Segment,
    SegmentKind,
)
from app.prompt.worldinfo import WIEntry, WIPosition
from tests.prompt.helpers import request

INJECTIONS = "Author's note and in-chat injections"


def built(
    *segments: Segment,
    world_info: tuple[WIEntry, ...] = (),
    memories: str = "",
    story_so_far: str = "",
) -> BuiltPrompt:
    text = "".join(s.text for s in segments)
    return BuiltPrompt(
        text, (), len(text), segments, "test", 0, 0,
        world_info=world_info, memories=memories, story_so_far=story_so_far,
    )  # fmt: skip


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


def test_memory_is_cut_out_of_the_parts_that_hold_it() -> None:
    lore = (WIEntry(uid=1, content="The moon is red."),)
    prompt = built(
        Segment("story", "SYSTEM [Story so far:\nThey met.\n] The moon is red."),
        Segment("message", "[Past events, recalled]", message_index=0),  # history stays
        Segment("injection", "[Note]\n[Past events, recalled: The moon is red.]"),
        world_info=lore,
        memories="[Past events, recalled: The moon is red.]",
        story_so_far="[Story so far:\nThey met.\n]",
    )
    parts = {part.label: part.text for part in itemize(prompt, len)}
    assert parts == {
        "Story string": "SYSTEM  ",
        STORY_SO_FAR_LABEL: "[Story so far:\nThey met.\n]",
        WORLD_INFO_LABEL: "The moon is red.",  # the lore in the story string, not the memory
        "Chat history": "[Past events, recalled]",
        INJECTIONS: "[Note]\n",
        MEMORIES_LABEL: "[Past events, recalled: The moon is red.]",
    }


def memory_prompt(
    sandbox: TemplateSandbox, position: PromptPosition, depth: int = 2
) -> MemoryPrompt:
    """A rendered memories block and story so far, the way the chat layer makes them."""
    block = render_memories(
        sandbox, "", ["Seraphina healed the stag.", "{{user}} found a silver key."]
    )
    story = render_story(
        sandbox, ["They met in the glade.\n\nA storm came."], ["The key opens the crypt."]
    )
    return MemoryPrompt(block, story, position, depth)


LONG_CHAT = [
    ChatMessage("Seraphina", "Welcome to the glade.", False),
    ChatMessage("User", "Tell me about the moon.", True),
    ChatMessage("Seraphina", "It glows.", False),
    ChatMessage("User", "Why is the moon so bright?", True),
]


@pytest.mark.parametrize(
    ("position", "host"),
    [
        (PromptPosition.IN_CHAT, "injection"),  # the default: in the chat at a depth
        (PromptPosition.IN_PROMPT, "story"),  # after the story string
        (PromptPosition.BEFORE_PROMPT, "story"),  # before the whole prompt
    ],
)
@pytest.mark.parametrize("collapse", [False, True])
def test_memory_has_rows_of_its_own_wherever_it_is_placed(
    registry: FormatRegistry,
    sandbox: TemplateSandbox,
    position: PromptPosition,
    host: SegmentKind,
    collapse: bool,
) -> None:
    memory = memory_prompt(sandbox, position)
    req = request(
        registry.get("Llama-3-Instruct-Names"),
        LONG_CHAT,
        author_note=AuthorNote("Mood: calm.", depth=2),  # joined with an in-chat block
        lore=[WIEntry(uid=1, keys=("moon",), content="The moon is red here.")],
        settings=PromptSettings(collapse_newlines=collapse),
        memory=memory,
    )
    prompt = PromptBuilder(sandbox).build(req, len)
    parts = itemize(prompt, len)
    by_label = {part.label: part.text for part in parts}
    block = memory.recalled.replace("{{user}}", "User")
    story = memory.story.replace("\n\n", "\n") if collapse else memory.story
    assert by_label[MEMORIES_LABEL] == block and block in prompt.text
    assert by_label[STORY_SO_FAR_LABEL] == story and story in prompt.text
    others = [p.text for p in parts if p.label not in (MEMORIES_LABEL, STORY_SO_FAR_LABEL)]
    assert not any("silver key" in text or "storm came" in text for text in others)
    assert "Mood: calm." in by_label[INJECTIONS] and "SCEN" in by_label["Story string"]
    assert [s.kind for s in prompt.segments if block in s.text] == [host]
    assert by_label[WORLD_INFO_LABEL] == "The moon is red here."
    assert sum(part.tokens for part in parts) == prompt.n_tokens == len(prompt.text)


@pytest.mark.parametrize(
    "position", [PromptPosition.IN_CHAT, PromptPosition.IN_PROMPT, PromptPosition.BEFORE_PROMPT]
)
def test_memory_has_rows_of_its_own_in_a_gguf_prompt(
    registry: FormatRegistry, sandbox: TemplateSandbox, position: PromptPosition
) -> None:
    """The model's own chat template, with ST's Default story string (anchors and all)."""
    template = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{{ message['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    memory = memory_prompt(sandbox, position, depth=1)
    req = request(
        registry.get("GGUF"), LONG_CHAT, model=ModelInfo(chat_template=template), memory=memory
    )
    prompt = PromptBuilder(sandbox).build(req, len)
    parts = itemize(prompt, len)
    by_label = {part.label: part.text for part in parts}
    assert by_label[MEMORIES_LABEL] == memory.recalled.replace("{{user}}", "User")
    assert by_label[STORY_SO_FAR_LABEL] == memory.story
    assert "storm came" not in by_label["Story string"]
    assert sum(part.tokens for part in parts) == prompt.n_tokens == len(prompt.text)
