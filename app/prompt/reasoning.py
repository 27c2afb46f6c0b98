"""Reasoning ("thinking") blocks: their templates, and where they meet the prompt.

A :class:`ReasoningTemplate` is SillyTavern's reasoning template (``prefix``, ``suffix``,
``separator``; the files of ``default/content/presets/reasoning``) plus the other tag
spellings a model may write for the same block (gpt-oss writes its channels with or
without ``<|start|>assistant``).  The prefix and suffix are what Parlor writes into a
prompt; every spelling is recognised when a reply is parsed
(:mod:`app.prompt.reasoning_parser`).

The prompt side follows SillyTavern's ``PromptReasoning``: past reasoning is left out of
the prompt unless "add to prompts" asks for the last N messages' reasoning, and the
message being continued always carries its own (without the suffix while the answer is
still empty, so the model goes on thinking).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

#: Whether a model should think: its template's default, always, or never.
Thinking = Literal["auto", "on", "off"]
#: What the end of a prompt says about the reply's reasoning block: the prompt opened
#: one (the reply starts inside it), closed an (empty) one, or neither.
TailState = Literal["open", "closed", "none"]


@dataclass(frozen=True)
class ReasoningTemplate:
    """How one model family writes its reasoning block."""

    name: str
    prefix: str = ""
    suffix: str = ""
    separator: str = ""
    #: Further spellings of the opening and closing tags, recognised when parsing.
    other_openers: tuple[str, ...] = ()
    other_closers: tuple[str, ...] = ()

    @property
    def parses(self) -> bool:
        """Whether replies can be parsed with it (SillyTavern needs both tags)."""
        return bool(self.prefix.strip() and self.suffix.strip())

    @property
    def openers(self) -> tuple[str, ...]:
        """Every opening tag, without surrounding whitespace."""
        return _tags(self.prefix, self.other_openers)

    @property
    def closers(self) -> tuple[str, ...]:
        """Every closing tag, without surrounding whitespace."""
        return _tags(self.suffix, self.other_closers)


def _tags(main: str, others: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in (main, *others) if t.strip()))


_HARMONY_FINAL = "<|start|>assistant<|channel|>final<|message|>"

#: The built-in templates: SillyTavern's five (``reasoning/*.json`` @ ST 1.18) and
#: Parlor's names for the families that share them.
BUILTIN_TEMPLATES: tuple[ReasoningTemplate, ...] = (
    ReasoningTemplate("DeepSeek", "<think>\n", "\n</think>", "\n\n"),
    ReasoningTemplate("Qwen", "<think>\n", "\n</think>", "\n\n"),
    ReasoningTemplate("Think XML", "<think>", "</think>", "\n"),
    ReasoningTemplate(
        "gpt-oss",
        "<|channel|>analysis<|message|>",
        "<|end|>" + _HARMONY_FINAL,
        "",
        other_openers=("<|start|>assistant<|channel|>analysis<|message|>",),
        other_closers=(_HARMONY_FINAL, "<|channel|>final<|message|>"),
    ),
    ReasoningTemplate(
        "OpenAI Harmony",
        "<|start|>assistant<|channel|>analysis<|message|>",
        _HARMONY_FINAL,
        "",
        other_openers=("<|channel|>analysis<|message|>",),
        other_closers=("<|end|>" + _HARMONY_FINAL, "<|channel|>final<|message|>"),
    ),
    ReasoningTemplate("Gemma 4", "<|channel>thought\n", "<channel|>", "\n\n"),
    ReasoningTemplate("Blank"),
)
#: SillyTavern's default template, and Parlor's when nothing else is known.
DEFAULT_TEMPLATE = "DeepSeek"

#: (substring of a GGUF chat template, template name), checked in order.
_TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("<|channel|>", "gpt-oss"),
    ("<|channel>", "Gemma 4"),
    ("<｜Assistant｜>", "DeepSeek"),
    ("<think>", "Qwen"),
)


def template_names() -> list[str]:
    """The built-in templates' names, in their order."""
    return [t.name for t in BUILTIN_TEMPLATES]


def find_template(name: str | None) -> ReasoningTemplate | None:
    """The built-in template called ``name`` (any case), or None."""
    wanted = (name or "").casefold()
    return next((t for t in BUILTIN_TEMPLATES if t.name.casefold() == wanted), None)


def detect_template(chat_template: str | None, fallback: str = DEFAULT_TEMPLATE) -> str:
    """The template a GGUF chat template's tags point to (else ``fallback``)."""
    for marker, name in _TEMPLATE_MARKERS:
        if chat_template and marker in chat_template:
            return name
    return fallback


@dataclass(frozen=True)
class ReasoningPrompt:
    """What a prompt does with reasoning: the template, "add to prompts", thinking."""

    template: ReasoningTemplate | None = None
    #: Add the reasoning of this many of the newest messages back (0: none; SillyTavern's
    #: "add to prompts" with "max additions").
    add_to_prompts: int = 0
    thinking: Thinking = "auto"


def with_reasoning(
    content: str, reasoning: str, template: ReasoningTemplate, *, unfinished: bool = False
) -> str:
    """``content`` with its reasoning block in front (``PromptReasoning.addToMessage``).

    ``unfinished`` (the message being continued, with no answer yet) leaves the block
    open, so the model goes on thinking.
    """
    if not reasoning:
        return content
    if unfinished and not content:
        return f"{template.prefix}{reasoning}"
    return f"{template.prefix}{reasoning}{template.suffix}{template.separator}{content}"


def add_reasoning(
    texts: Sequence[str],
    reasonings: Sequence[str],
    settings: ReasoningPrompt,
    *,
    continuing: bool,
    substitute: Callable[[str], str] = str,
) -> list[str]:
    """The history's texts with the reasoning SillyTavern would add, newest first.

    The newest ``settings.add_to_prompts`` messages that have reasoning get it back; the
    message being continued (``continuing``: the last one) always does.  ``substitute``
    fills in macros of the template's parts, as SillyTavern does.
    """
    template = settings.template
    out = list(texts)
    if template is None:
        return out
    parts = ReasoningTemplate(
        template.name,
        substitute(template.prefix),
        substitute(template.suffix),
        substitute(template.separator),
    )
    added = 0
    for index in range(len(out) - 1, -1, -1):
        prefix = continuing and index == len(out) - 1
        if not prefix and added >= settings.add_to_prompts:
            break
        if reasonings[index]:
            out[index] = with_reasoning(out[index], reasonings[index], parts, unfinished=prefix)
            added += 1
    return out


def tail_state(prompt: str, template: ReasoningTemplate | None) -> TailState:
    """Whether ``prompt`` ends inside an opened reasoning block, after a closed one, or not."""
    if template is None or not template.parses:
        return "none"
    end = prompt.rstrip()
    if any(end.endswith(tag) for tag in template.closers):
        return "closed"
    if any(end.endswith(tag) for tag in template.openers):
        return "open"
    return "none"


def prefill(prompt: str, template: ReasoningTemplate | None, thinking: Thinking) -> str:
    """What to write after ``prompt`` so the model thinks (``on``) or does not (``off``).

    A block the prompt (its chat template) already opened is closed for ``off``; an
    empty closed block is written where none is open.  ``auto`` writes nothing.
    """
    if template is None or not template.parses or thinking == "auto":
        return ""
    state = tail_state(prompt, template)
    if state == "closed":
        return ""
    if thinking == "on":
        return "" if state == "open" else template.prefix
    opening = "" if state == "open" else template.prefix
    return opening + template.suffix + template.separator


def close_text(text: str, template: ReasoningTemplate) -> str:
    """The suffix and separator that close a block a reply's ``text`` ends inside of.

    A suffix starting with a newline does not add a second one after ``text``'s own.
    """
    suffix = template.suffix
    if text.endswith("\n") and suffix.startswith("\n"):
        suffix = suffix[1:]
    return suffix + template.separator
