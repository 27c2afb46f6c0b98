"""Instruct-mode formatting: ports of ST's ``instruct-mode.js`` functions.

Each function mirrors its SillyTavern namesake (ST 1.18; ``group`` marks a group chat):
``formatInstructModeChat``, ``formatInstructModeStoryString``,
``formatInstructModeExamples``, ``formatInstructModePrompt``,
``getInstructStoppingSequences`` and ``getStoppingStrings``, plus the example
parsers ``parseMesExamples`` and ``parseExampleIntoIndividual``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from app.prompt.formats import ContextTemplate, InstructTemplate, PromptPosition

Substitute = Callable[[str], str]
_NAME = re.compile(r"\{\{name\}\}", re.IGNORECASE)
_START = re.compile(r"<START>", re.IGNORECASE)


class ForceSequence(IntEnum):
    """``force_output_sequence``: use the first or last sequence variant."""

    NONE = 0
    FIRST = 1
    LAST = 2


@dataclass(frozen=True)
class Speaker:
    """Who said a message, as ``formatInstructModeChat`` needs it."""

    name: str | None
    is_user: bool
    narrator: bool = False
    force_avatar: bool = False


def _name(text: str, name: str) -> str:
    return _NAME.sub(lambda _m: name, text)


def _prefix(ins: InstructTemplate, who: Speaker, force: ForceSequence) -> str:
    if who.narrator:
        return ins.input_sequence if ins.system_same_as_user else ins.system_sequence
    if who.is_user:
        if force == ForceSequence.FIRST:
            return ins.first_input_sequence or ins.input_sequence
        if force == ForceSequence.LAST:
            return ins.last_input_sequence or ins.input_sequence
        return ins.input_sequence
    if force == ForceSequence.FIRST:
        return ins.first_output_sequence or ins.output_sequence
    if force == ForceSequence.LAST:
        return ins.last_output_sequence or ins.output_sequence
    return ins.output_sequence


def _suffix(ins: InstructTemplate, who: Speaker) -> str:
    if who.narrator:
        return ins.input_suffix if ins.system_same_as_user else ins.system_suffix
    return ins.input_suffix if who.is_user else ins.output_suffix


def format_chat_message(
    ins: InstructTemplate,
    who: Speaker,
    mes: str,
    *,
    user_name: str,
    force: ForceSequence,
    subst: Substitute,
    group: bool = False,
) -> str:
    """``formatInstructModeChat``: one history message wrapped in its sequences."""
    include_names = not who.narrator and ins.names_behavior == "always"
    if (
        not who.narrator
        and ins.names_behavior == "force"
        and (who.force_avatar or group)
        and who.name != user_name
    ):
        include_names = True
    prefix, suffix = _prefix(ins, who, force), _suffix(ins, who)
    if ins.macro:
        prefix = _name(subst(prefix), who.name or "System")
        suffix = _name(subst(suffix), who.name or "System")
    if not suffix and ins.wrap:
        suffix = "\n"
    separator = "\n" if ins.wrap else ""
    body = f"{who.name}: {mes}" if include_names and who.name else mes
    return separator.join(part for part in (prefix, body + suffix) if part)


def format_story_string(
    ins: InstructTemplate, ctx: ContextTemplate, story: str, subst: Substitute
) -> str:
    """``formatInstructModeStoryString``: wrap the story string in its prefix/suffix."""
    if not story:
        return ""
    if ctx.story_string_position == PromptPosition.IN_CHAT:
        return story
    separator = "\n" if ins.wrap else ""
    if ins.story_string_prefix:
        story = _name(subst(ins.story_string_prefix), "System") + separator + story
    if ins.story_string_suffix:
        story = story + subst(ins.story_string_suffix)
    return story


def parse_mes_examples(text: str, *, heading: str) -> list[str]:
    """``parseMesExamples``: split on ``<START>``; each block gets ``heading``."""
    if not text or text == "<START>":
        return []
    if not text.startswith("<START>"):
        text = "<START>\n" + text.strip()
    return [f"{heading}{block.strip()}\n" for block in _START.split(text)[1:]]


def parse_example_block(block: str, user: str, char: str) -> list[tuple[bool, str]]:
    """``parseExampleIntoIndividual``: (is_user, text) turns of one example block."""
    result: list[tuple[bool, str]] = []
    lines: list[str] = []
    in_user = in_bot = False

    def add(name: str, is_user: bool) -> None:
        result.append((is_user, "\n".join(lines).replace(name + ":", "", 1).strip()))
        lines.clear()

    for line in block.split("\n")[1:]:
        if line.startswith(user + ":"):
            in_user = True
            if in_bot:
                add(char, False)
            in_bot = False
        elif line.startswith(char + ":"):
            in_bot = True
            if in_user:
                add(user, True)
            in_user = False
        lines.append(line)
    if in_user:
        add(user, True)
    elif in_bot:
        add(char, False)
    return result


def format_examples(
    ins: InstructTemplate,
    ctx: ContextTemplate,
    blocks: Sequence[str],
    *,
    user: str,
    char: str,
    subst: Substitute,
    group: bool = False,
) -> list[str]:
    """``formatInstructModeExamples``: example blocks as instruct turns."""
    heading = f"{subst(ctx.example_separator)}\n" if ctx.example_separator else ""
    if ins.skip_examples:
        return [re.sub(r"<START>\n", heading, b, count=1, flags=re.IGNORECASE) for b in blocks]
    sequences = [ins.input_sequence, ins.output_sequence, ins.input_suffix, ins.output_suffix]
    if ins.macro:
        sequences = [subst(s) for s in sequences]
        names = [user, char, user, char]
        sequences = [_name(s, n) for s, n in zip(sequences, names, strict=True)]
        sequences[2] = sequences[2] or ("\n" if ins.wrap else "")
        sequences[3] = sequences[3] or ("\n" if ins.wrap else "")
    in_prefix, out_prefix, in_suffix, out_suffix = sequences
    separator = "\n" if ins.wrap else ""
    formatted: list[str] = []
    for block in blocks:
        cleaned = _START.sub("{Example Dialogue:}", block, count=1).replace("\r", "")
        turns = parse_example_block(cleaned, user, char)
        if not turns:
            continue
        if heading:
            formatted.append(heading)
        for is_user, content in turns:
            forced = ins.names_behavior == "force" and (is_user or group)
            named = ins.names_behavior == "always" or forced
            text = f"{user if is_user else char}: {content}" if named else content
            suffix = in_suffix if is_user else out_suffix
            prefix = in_prefix if is_user else out_prefix
            formatted.append(separator.join(p for p in (prefix, text + suffix) if p))
    if not formatted:
        return [re.sub(r"<START>\n", heading, b, count=1, flags=re.IGNORECASE) for b in blocks]
    return formatted


def format_prompt_line(
    ins: InstructTemplate,
    name: str,
    *,
    impersonate: bool,
    prompt_bias: str,
    subst: Substitute,
    group: bool = False,
) -> str:
    """``formatInstructModePrompt``: the generation prefix (last prompt line)."""
    behavior = ins.names_behavior
    include_names = bool(name) and (behavior == "always" or (group and behavior == "force"))
    if impersonate:
        sequence = ins.last_input_sequence or ins.input_sequence
    else:
        sequence = ins.last_output_sequence or ins.output_sequence
    filler = ""
    if (
        include_names
        and ins.last_output_sequence
        and ins.output_sequence
        and sequence == ins.last_output_sequence
        and ins.output_sequence[-1:].isspace()
        and not ins.last_output_sequence[-1:].isspace()
    ):
        filler = ins.output_sequence[-1]
    if ins.macro:
        sequence = _name(subst(sequence), name or "System")
    separator = "\n" if ins.wrap else ""
    if include_names:
        text = separator + sequence + separator + filler + f"{name}:"
    else:
        text = separator + sequence
    if not impersonate and prompt_bias:
        text += prompt_bias if include_names else separator + prompt_bias.lstrip()
    return (text.rstrip() if ins.wrap else text) + ("" if include_names else separator)


def _unique(items: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def instruct_stop_strings(
    ins: InstructTemplate | None,
    ctx: ContextTemplate,
    *,
    user: str,
    char: str,
    subst: Substitute,
) -> list[str]:
    """``getInstructStoppingSequences`` (plus the context's chat-start stop strings)."""
    result: list[str] = []
    if ins is not None:
        combined = [ins.stop_sequence]
        if ins.sequences_as_stop_strings:
            combined += [
                _name(ins.input_sequence, user),
                _name(ins.output_sequence, char),
                _name(ins.first_output_sequence, char),
                _name(ins.last_output_sequence, char),
                _name(ins.system_sequence, "System"),
                _name(ins.last_system_sequence, "System"),
            ]
        for sequence in _unique("\n".join(combined).split("\n")):
            if sequence.strip():
                wrapped = "\n" + sequence if ins.wrap else sequence
                result.append(subst(wrapped) if ins.macro else wrapped)
    if ctx.use_stop_strings:
        if ctx.chat_start:
            result.append("\n" + subst(ctx.chat_start))
        if ctx.example_separator:
            result.append("\n" + subst(ctx.example_separator))
    return result


def stopping_strings(
    ins: InstructTemplate | None,
    ctx: ContextTemplate,
    *,
    user: str,
    char: str,
    impersonate: bool,
    continue_on_user: bool,
    custom: Sequence[str],
    subst: Substitute,
    others: Sequence[str] = (),
) -> list[str]:
    """``getStoppingStrings``: names, instruct sequences, custom strings, single line.

    ``others`` are a group's other members: their names stop the reply too.
    """
    result: list[str] = []
    if ctx.names_as_stop_strings:
        char_string, user_string = f"\n{char}:", f"\n{user}:"
        result.append(char_string if impersonate else user_string)
        result.append(user_string)
        if continue_on_user:
            result.append(char_string)
        result += [f"\n{name}:" for name in others]
    result += instruct_stop_strings(ins, ctx, user=user, char=char, subst=subst)
    result += [subst(s) for s in custom]
    if ctx.single_line:
        result.insert(0, "\n")
    return [s for s in _unique(result) if s]
