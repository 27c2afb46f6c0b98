"""The prompt format model: SillyTavern's instruct, context and system-prompt templates.

A :class:`PromptFormat` bundles the three SillyTavern template kinds that shape a
text-completion prompt.  Field names and defaults follow SillyTavern 1.18
(``power_user.instruct`` / ``power_user.context`` in ``power-user.js``), so an
imported ST JSON maps onto these models key by key after migration
(:mod:`app.prompt.st_import`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NamesBehavior = Literal["none", "force", "always"]
StorySyntax = Literal["handlebars", "jinja"]
FormatKind = Literal["st", "gguf"]

#: ``defaultStoryString`` of ``power-user.js`` @ ST 1.18 (the JS fallback).
DEFAULT_STORY_STRING = (
    "{{#if system}}{{system}}\n{{/if}}{{#if description}}{{description}}\n{{/if}}"
    "{{#if personality}}{{char}}'s personality: {{personality}}\n{{/if}}"
    "{{#if scenario}}Scenario: {{scenario}}\n{{/if}}{{#if persona}}{{persona}}\n{{/if}}"
)

#: The default system prompt of ST 1.18 (``Neutral - Chat``).
NEUTRAL_CHAT_PROMPT = (
    "Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}."
)


class PromptPosition(IntEnum):
    """``extension_prompt_types``: where an injected prompt goes."""

    NONE = -1
    IN_PROMPT = 0
    IN_CHAT = 1
    BEFORE_PROMPT = 2


class Role(IntEnum):
    """``extension_prompt_roles``: the speaker of an in-chat injection."""

    SYSTEM = 0
    USER = 1
    ASSISTANT = 2


class InstructTemplate(BaseModel):
    """SillyTavern instruct sequences (``data/<user>/instruct/*.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    input_sequence: str = Field("### Instruction:", description="prefix of user messages")
    input_suffix: str = Field("", description="suffix of user messages")
    output_sequence: str = Field("### Response:", description="prefix of assistant messages")
    output_suffix: str = Field("", description="suffix of assistant messages")
    system_sequence: str = Field("", description="prefix of system/narrator messages")
    system_suffix: str = Field("", description="suffix of system/narrator messages")
    first_output_sequence: str = Field("", description="prefix of the oldest assistant message")
    last_output_sequence: str = Field("", description="prefix of the reply being generated")
    first_input_sequence: str = Field("", description="prefix of the oldest user message")
    last_input_sequence: str = Field("", description="prefix of the last user message")
    last_system_sequence: str = Field("", description="prefix for quiet generations")
    stop_sequence: str = Field("", description="stop string; output is cut there")
    story_string_prefix: str = Field("", description="wraps the story string (start)")
    story_string_suffix: str = Field("", description="wraps the story string (end)")
    user_alignment_message: str = Field("", description="user filler if history starts with AI")
    wrap: bool = Field(True, description="join prefix/content/suffix with newlines")
    macro: bool = Field(True, description="substitute macros and {{name}} in sequences")
    names_behavior: NamesBehavior = Field("force", description="none | force | always")
    activation_regex: str = Field("", description="auto-select when the model name matches")
    bind_to_context: bool = Field(False, description="select the context of the same name")
    skip_examples: bool = Field(False, description="do not instruct-format example dialogues")
    system_same_as_user: bool = Field(False, description="system messages use user sequences")
    sequences_as_stop_strings: bool = Field(True, description="prefix sequences stop output")


class ContextTemplate(BaseModel):
    """SillyTavern context template (``data/<user>/context/*.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    story_string: str = Field(DEFAULT_STORY_STRING, description="the prompt preamble template")
    story_string_syntax: StorySyntax = Field(
        "handlebars", description="handlebars (ST files) or jinja (bundled templates)"
    )
    example_separator: str = Field("***", description="replaces <START> in example dialogues")
    chat_start: str = Field("***", description="line before the first chat message")
    use_stop_strings: bool = Field(True, description="chat_start/separator become stop strings")
    names_as_stop_strings: bool = Field(True, description="'\\n{{user}}:' is a stop string")
    story_string_position: int = Field(0, ge=0, le=2, description="0 top, 1 in chat, 2 before")
    story_string_depth: int = Field(1, ge=0, le=10000, description="depth when in chat")
    story_string_role: int = Field(0, ge=0, le=2, description="0 system, 1 user, 2 assistant")
    always_force_name2: bool = Field(True, description="non-instruct: end with '{{char}}:'")
    trim_sentences: bool = Field(False, description="trim output to the last full sentence")
    single_line: bool = Field(False, description="stop at the first newline")
    allow_jailbreak: bool = Field(
        True, description="false: no post-history instructions (SillyTavern 1.12 and older)"
    )


class SystemPrompt(BaseModel):
    """A SillyTavern "sysprompt" preset: system prompt plus post-history instructions."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = ""
    content: str = NEUTRAL_CHAT_PROMPT
    post_history: str = ""


class PromptFormat(BaseModel):
    """Everything that decides how a chat is turned into prompt text.

    ``instruct`` is ``None`` for plain (non-instruct) text completion.  ``kind`` is
    ``"gguf"`` for the format that renders the model's own chat template instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    description: str = Field("", description="one line for the format picker")
    kind: FormatKind = "st"
    instruct: InstructTemplate | None = None
    context: ContextTemplate = ContextTemplate()
    system_prompt: SystemPrompt = SystemPrompt()
    source: str = Field("", description="file the format was loaded from (for errors)")
