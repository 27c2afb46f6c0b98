"""Inputs and output of the prompt builder (pure value types)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Literal

from app.prompt.formats import PromptFormat, PromptPosition, Role, SystemPrompt
from app.prompt.memory import MemoryPrompt
from app.prompt.reasoning import ReasoningPrompt
from app.prompt.worldinfo import WIEntry, WISettings

if TYPE_CHECKING:
    from app.prompt.group import GroupPrompt

#: ``count_tokens(text) -> int``: the loaded model's tokenizer (no BOS added).
TokenCounter = Callable[[str], int]

GenerationType = Literal["normal", "continue", "impersonate", "swipe", "regenerate"]
SegmentKind = Literal[
    "story",
    "examples",
    "chat_start",
    "message",
    "injection",
    "post_history",
    "alignment",
    "generation",
    "continue",
]


@dataclass(frozen=True)
class ChatMessage:
    """One stored chat message as the prompt sees it.

    ``hidden`` messages (ST ``is_system``) are left out of the prompt; ``narrator``
    messages use the system sequences; ``force_avatar`` marks a message sent under a
    persona (ST adds its name under ``names_behavior: force`` when that name is not
    the current user's).
    """

    name: str
    text: str
    is_user: bool
    hidden: bool = False
    narrator: bool = False
    force_avatar: bool = False
    sent_at: datetime | None = None
    #: The message's reasoning block (left out of prompts unless asked for).
    reasoning: str = ""


@dataclass(frozen=True)
class DepthPrompt:
    """A character's note (``extensions.depth_prompt``): injected at a depth."""

    text: str = ""
    depth: int = 4
    role: Role = Role.SYSTEM


@dataclass(frozen=True)
class CharacterInfo:
    """The card fields the prompt uses; chat overrides are resolved by the caller."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    examples: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    depth_prompt: DepthPrompt = DepthPrompt()
    creator_notes: str = ""
    version: str = ""


class PersonaPosition(IntEnum):
    """``persona_description_positions`` of ST."""

    IN_PROMPT = 0
    TOP_AN = 2
    BOTTOM_AN = 3
    AT_DEPTH = 4
    NONE = 9


@dataclass(frozen=True)
class Persona:
    """The user's persona: their name and description and where it goes."""

    name: str = "User"
    description: str = ""
    position: PersonaPosition = PersonaPosition.IN_PROMPT
    depth: int = 2
    role: Role = Role.SYSTEM


@dataclass(frozen=True)
class AuthorNote:
    """The chat's Author's Note (``note_prompt`` and friends in ``chat_metadata``)."""

    text: str = ""
    interval: int = 1
    position: PromptPosition = PromptPosition.IN_CHAT
    depth: int = 4
    role: Role = Role.SYSTEM


@dataclass(frozen=True)
class PromptSettings:
    """User settings that shape prompts (ST ``power_user`` defaults)."""

    token_padding: int = 64
    pin_examples: bool = False
    strip_examples: bool = False
    collapse_newlines: bool = False
    sysprompt_enabled: bool = True
    system_prompt: SystemPrompt | None = None
    prefer_character_prompt: bool = True
    prefer_character_jailbreak: bool = True
    custom_stop_strings: tuple[str, ...] = ()
    start_reply_with: str = ""
    world_info: WISettings = field(default_factory=WISettings)
    scan_injections: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """What the loaded model says about itself (for the GGUF format and auto-select)."""

    name: str = ""
    chat_template: str | None = None
    bos_token: str = ""
    eos_token: str = ""


@dataclass(frozen=True)
class PromptRequest:
    """Everything :meth:`PromptBuilder.build` needs for one generation."""

    format: PromptFormat
    character: CharacterInfo
    history: Sequence[ChatMessage]
    n_ctx: int
    max_new_tokens: int
    persona: Persona = Persona()
    generation: GenerationType = "normal"
    author_note: AuthorNote = AuthorNote()
    lore: Sequence[WIEntry] = ()
    settings: PromptSettings = PromptSettings()
    model: ModelInfo = ModelInfo()
    chat_id: str = ""
    pick_reroll_seed: str = ""
    lore_sticky: frozenset[str] = frozenset()
    lore_cooldown: frozenset[str] = frozenset()
    #: History messages before this index are left out: the chat layer trims in chunks
    #: for models whose KV cache cannot shift (see ``app.chat.trimming``).
    history_start: int = 0
    #: At most this many example blocks (None: as many as fit), so that a chunked trim
    #: does not bring examples back and change the prompt's prefix.
    max_examples: int | None = None
    #: Past reasoning added back, the thinking switch and the reasoning template.
    reasoning: ReasoningPrompt = field(default_factory=ReasoningPrompt)
    #: The group of a group chat (``character`` is then the speaker); None: one-to-one.
    group: GroupPrompt | None = None
    #: Memories recalled from messages that left the context (long-term memory).
    memory: MemoryPrompt = field(default_factory=MemoryPrompt)


@dataclass(frozen=True)
class Segment:
    """A piece of the prompt; ``volatile`` pieces move or change from turn to turn."""

    kind: SegmentKind
    text: str
    volatile: bool = False
    message_index: int | None = None


@dataclass(frozen=True)
class BuiltPrompt:
    """The prompt text, its stop strings and how it was put together.

    ``"".join(s.text for s in segments) == text``.  ``reply_prefix`` ("Start Reply
    With") is already at the end of the prompt; prepend it to the generated text when
    saving the reply.  ``continue_text`` is the message being continued.
    """

    text: str
    stop: tuple[str, ...]
    n_tokens: int
    segments: tuple[Segment, ...]
    format_name: str
    messages_in_context: int
    examples_in_context: int
    reply_prefix: str = ""
    continue_text: str = ""
    world_info: tuple[WIEntry, ...] = field(default=())
    #: Long-term memory as written into the prompt (macros expanded; "": none): the
    #: recalled memories block and the story so far (summaries and pinned facts).
    memories: str = ""
    story_so_far: str = ""

    def stable_prefix(self) -> str:
        """The text before the first volatile segment (safe to keep in the KV cache)."""
        parts: list[str] = []
        for segment in self.segments:
            if segment.volatile:
                break
            parts.append(segment.text)
        return "".join(parts)
