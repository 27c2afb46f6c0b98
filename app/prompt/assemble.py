"""Assemble a SillyTavern-exact text-completion prompt (ST 1.18 ``Generate()``, §6).

:class:`PromptBuilder` is what the chat service calls.  It prepares the
ingredients (:mod:`app.prompt.prepare`), formats the history with the instruct
sequences, fits everything into ``n_ctx - max_new_tokens`` the way ST does
(padding added to the fixed part, injections first, history newest to oldest,
then example blocks) and returns a :class:`BuiltPrompt` with its stop strings and
segments.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from app.errors import ContextLengthExceeded
from app.prompt.gguf_format import build_gguf
from app.prompt.handlebars import HandlebarsTemplate
from app.prompt.instruct import (
    ForceSequence,
    Speaker,
    format_chat_message,
    format_prompt_line,
    stopping_strings,
)
from app.prompt.macros import MacroEngine
from app.prompt.prepare import Msg, Prepared, Preparer
from app.prompt.sandbox import TemplateSandbox
from app.prompt.thinking import with_thinking
from app.prompt.types import BuiltPrompt, PromptRequest, Segment, SegmentKind, TokenCounter

_FORMAT_TOKEN = "\u0000\ufffc\u0000\ufffd"


@dataclass
class _Part:
    kind: SegmentKind
    text: str
    volatile: bool = False
    index: int | None = None


@dataclass
class _Line:
    text: str
    msg: Msg | None


def _segment_kind(msg: Msg | None) -> SegmentKind:
    if msg is None:
        return "message"
    kinds: dict[str, SegmentKind] = {
        "injection": "injection",
        "post_history": "post_history",
        "alignment": "alignment",
    }
    return kinds.get(msg.kind, "message")


def joined_text(text: str, *, collapse: bool) -> str:
    """``text`` as :func:`join_segments` writes it: no ``\\r``, newlines collapsed if asked."""
    text = text.replace("\r", "")
    return re.sub(r"\n+", "\n", text) if collapse else text


def join_segments(parts: list[_Part], *, collapse: bool) -> tuple[str, tuple[Segment, ...]]:
    """Join parts into text and segments, removing ``\\r`` and optionally collapsing newlines."""
    segments: list[Segment] = []
    ends_with_newline = False
    for part in parts:
        text = joined_text(part.text, collapse=collapse)
        if collapse and ends_with_newline:
            text = text.lstrip("\n")
        if not text:
            continue
        ends_with_newline = text.endswith("\n")
        segments.append(Segment(part.kind, text, part.volatile, part.index))
    return "".join(s.text for s in segments), tuple(segments)


class PromptBuilder:
    """Builds prompts; one instance per app, holding the caches and the dice.

    ``clock`` and ``rng`` make ``{{time}}``, ``{{random}}``, ``{{roll}}`` and World
    Info probability deterministic in tests.
    """

    def __init__(
        self,
        sandbox: TemplateSandbox,
        *,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        max_cached: int = 128,
    ) -> None:
        self._sandbox = sandbox
        self._rng = rng or random.Random()
        self._macros = MacroEngine(clock=clock, rng=self._rng)
        self._handlebars: dict[str, HandlebarsTemplate] = {}
        self._max_cached = max_cached

    def compile_story_string(self, source: str, name: str) -> HandlebarsTemplate:
        """Parse a Handlebars story string once; ``name`` identifies it in errors."""
        template = self._handlebars.get(source)
        if template is None:
            template = HandlebarsTemplate(source, name=name)
            if len(self._handlebars) >= self._max_cached:
                self._handlebars.pop(next(iter(self._handlebars)))
            self._handlebars[source] = template
        return template

    def prepare(self, request: PromptRequest, count_tokens: TokenCounter) -> Prepared:
        """The format-independent ingredients of a prompt (story string, history, lore)."""
        return Preparer(
            request,
            count_tokens=count_tokens,
            macros=self._macros,
            rng=self._rng,
            sandbox=self._sandbox,
            handlebars=self.compile_story_string,
        ).prepare()

    def build(self, request: PromptRequest, count_tokens: TokenCounter) -> BuiltPrompt:
        """Build the prompt for ``request``; raises ``ContextLengthExceeded`` if it cannot fit."""
        prepared = self.prepare(request, count_tokens)
        if request.format.kind == "gguf":
            built = build_gguf(request, prepared, count_tokens, self._sandbox)
        else:
            built = _TextAssembly(request, prepared, count_tokens).run()
        return with_thinking(built, request, count_tokens)

    def substitute(self, text: str, request: PromptRequest) -> str:
        """Expand macros in user input the way ST does when a message is sent."""
        preparer = Preparer(
            request,
            count_tokens=len,
            macros=self._macros,
            rng=self._rng,
            sandbox=self._sandbox,
            handlebars=self.compile_story_string,
        )
        preparer.build_env()
        return preparer.sub(text)


class _TextAssembly:
    """The second half of ST's ``Generate()`` for one request."""

    def __init__(self, request: PromptRequest, prepared: Prepared, count: TokenCounter) -> None:
        self.req = request
        self.p = prepared
        self.ins = request.format.instruct
        self._count = count
        self.continuing = request.generation == "continue"
        self.impersonate = request.generation == "impersonate"
        self.continue_text = ""
        self.alignment = ""
        self.cycle = ""
        self._sequences: dict[str, str] = {}

    def sequence(self, text: str) -> str:
        """Macros in an instruct sequence, substituted once per build."""
        if text not in self._sequences:
            self._sequences[text] = self.p.sub(text)
        return self._sequences[text]

    def count(self, text: str) -> int:
        """Tokens of ``text`` (``\\r`` removed, as ST counts)."""
        return self._count(text.replace("\r", "")) if text else 0

    # -- formatting ---------------------------------------------------------------

    def format_item(self, msg: Msg, force: ForceSequence) -> str:
        """``formatMessageHistoryItem``."""
        item_name = msg.name if msg.is_user else (msg.name or self.p.name2)
        if self.ins is None:
            if msg.name and not msg.narrator:
                return f"{item_name}: {msg.mes}\n"
            return f"{msg.mes}\n"
        who = Speaker(item_name, msg.is_user, msg.narrator, msg.force_avatar)
        return format_chat_message(
            self.ins, who, msg.mes, user_name=self.p.name1, force=force, subst=self.sequence,
            group=self.req.group is not None,
        )  # fmt: skip

    def history_lines(self) -> list[_Line]:
        """The formatted messages, newest first (ST's ``chat2``)."""
        msgs = self.p.messages
        last_user = max((j for j, m in enumerate(msgs) if m.is_user), default=-1)
        lines: list[_Line] = []
        for j, msg in enumerate(msgs):
            text = self.format_item(msg, ForceSequence.NONE)
            if j == 0 and self.ins is not None:
                text = self.format_item(msg, ForceSequence.FIRST)
            if j == last_user and self.ins is not None:
                text = self.format_item(msg, ForceSequence.LAST)
            if self.continuing and j == len(msgs) - 1:
                text = self._continued(msg, text)
            lines.append(_Line(text, msg))
        lines.reverse()
        return lines or [_Line("", None)]

    def _continued(self, msg: Msg, text: str) -> str:
        self.continue_text = msg.mes
        if self.ins is not None:
            marked = replace(msg, mes=msg.mes.replace(_FORMAT_TOKEN, "") + _FORMAT_TOKEN)
            text = self.format_item(marked, ForceSequence.LAST)
        if _FORMAT_TOKEN in text:
            return text[: text.rfind(_FORMAT_TOKEN)]
        return text[: text.rfind(msg.mes) + len(msg.mes)]

    def modify_last(self, base: str) -> str:
        """``modifyLastPromptLine``: append the generation prefix to the last message."""
        p, ins = self.p, self.ins
        if ins is not None and not self.continuing:
            name = p.name1 if self.impersonate else p.name2
            base += format_prompt_line(
                ins, name, impersonate=self.impersonate, prompt_bias=p.prompt_bias, subst=p.sub,
                group=self.req.group is not None,
            )  # fmt: skip
        if ins is None and self.impersonate and not self.continuing:
            base = (base if base.endswith("\n") else base + "\n") + p.name1 + ":"
        on_first = self.continuing and len(self.req.history) == 1
        if ins is None and p.force_name2 and not on_first:
            base = base if base.endswith("\n") else base + "\n"
            # ST would also add "{{char}}:" when continuing an AI message, whose
            # formatted text already starts with the name; that doubles the name.
            if not self.continuing:
                base += f"{p.name2}:"
        return base

    # -- fitting ------------------------------------------------------------------

    def _fixed_tokens(self, examples: str, chat: str, cycle: str) -> int:
        fixed = "".join([self.p.story, examples, self.alignment, chat, self.modify_last(""), cycle])
        return self.count(fixed) + self.req.settings.token_padding

    def fit(self, lines: list[_Line]) -> tuple[list[_Line], str, int]:
        """Choose the messages and example blocks that fit; returns (kept, cycle, n_examples)."""
        p, settings = self.p, self.req.settings
        limit = p.max_prompt
        injected = [
            i for i, ln in enumerate(lines) if ln.msg is not None and ln.msg.kind == "injection"
        ]
        user_lines = {i for i, ln in enumerate(lines) if ln.msg is not None and ln.msg.is_user}
        cycle = ""
        if self.continuing and len(lines) > 1:
            cycle = lines.pop(0).text
            injected = [i - 1 for i in injected if i >= 1]
            user_lines = {i - 1 for i in user_lines if i >= 1}
        pinned = "".join(p.examples) if settings.pin_examples else ""
        chat = p.chat_start
        kept: dict[int, _Line] = {}
        tokens = self._fixed_tokens(pinned, chat, cycle)
        for order in (injected, range(len(lines))):
            for index in order:
                if index in kept:
                    continue
                tokens += self.count(lines[index].text)
                if tokens >= limit:
                    break
                chat += lines[index].text
                kept[index] = lines[index]
        ordered = [kept[i] for i in sorted(kept)]
        if self.alignment and (max(kept, default=0) not in user_lines):
            chat = self.alignment + chat
            ordered.append(_Line(self.alignment, Msg(p.name1, "", True, kind="alignment")))
        n_examples = len(p.examples) if settings.pin_examples else 0
        if not settings.pin_examples and p.examples:  # counting the chat again costs ~5 ms
            tokens = self._fixed_tokens(pinned, chat, cycle)
            for example in p.examples[: self.req.max_examples]:
                tokens += self.count(example)
                if tokens >= limit:
                    break
                n_examples += 1
        return ordered, cycle, n_examples

    def _trim_for_cycle(self, send: list[_Part], n_examples: int, cycle: str) -> int:
        """ST's ``checkPromptSize`` for Continue: drop examples, then the oldest messages."""
        while True:
            joined = "".join(part.text for part in send)
            text = "".join(
                [
                    self.p.story,
                    "".join(self.p.examples[:n_examples]),
                    self.p.chat_start,
                    joined,
                    "\n",
                    self.modify_last(""),
                    cycle,
                ]
            )
            if self.count(text) + self.req.settings.token_padding <= self.p.max_prompt:
                return n_examples
            if n_examples > 0:
                n_examples -= 1
            elif send:
                send.pop(0)
            else:
                return n_examples

    # -- the whole thing ----------------------------------------------------------

    def run(self) -> BuiltPrompt:
        """Format, fit and join the prompt."""
        p, ins = self.p, self.ins
        if ins is not None and ins.user_alignment_message:
            filler = Msg(p.name1, p.sub(ins.user_alignment_message), True, kind="alignment")
            self.alignment = self.format_item(filler, ForceSequence.FIRST)
        kept, cycle, n_examples = self.fit(self.history_lines())
        send = [
            _Part(
                _segment_kind(ln.msg),
                ln.text,
                ln.msg is not None and ln.msg.kind in ("injection", "post_history"),
                None if ln.msg is None else ln.msg.index,
            )
            for ln in reversed(kept)
        ]
        if send and not self.continuing and (ins is None or ins.wrap):
            send[-1].text = re.sub(r"\n$", "", send[-1].text, count=1)
        if cycle:
            n_examples = self._trim_for_cycle(send, n_examples, cycle)
        self.cycle = cycle
        generation = self._generation_part(send)
        parts = [_Part("story", p.story)]
        parts += [_Part("examples", block) for block in p.examples[:n_examples]]
        parts.append(_Part("chat_start", p.chat_start))
        parts += send
        if send:
            parts.append(generation)
        parts.append(_Part("continue", cycle))
        return self._result(parts, n_examples)

    def _generation_part(self, send: list[_Part]) -> _Part:
        base = send[-1].text if send else ""
        suffix = self.modify_last(base)[len(base) :]
        bias = self.p.prompt_bias
        if self.ins is None and not self.impersonate and bias.strip():
            last = base + suffix
            suffix += bias.lstrip() if last[-1:].isspace() else " " + bias.lstrip()
        return _Part("generation", suffix, True)

    def _result(self, parts: list[_Part], n_examples: int) -> BuiltPrompt:
        req, p = self.req, self.p
        collapse = req.settings.collapse_newlines
        text, segments = join_segments(parts, collapse=collapse)
        n_tokens = self.count(text)
        if n_tokens >= req.n_ctx:
            raise ContextLengthExceeded(n_tokens, req.n_ctx)
        last_is_user = bool(req.history) and req.history[-1].is_user
        stop = stopping_strings(
            self.ins,
            req.format.context,
            user=p.name1,
            char=p.name2,
            impersonate=self.impersonate,
            continue_on_user=self.continuing and last_is_user,
            custom=req.settings.custom_stop_strings,
            subst=p.sub,
            others=req.group.others(p.name2) if req.group else (),
        )
        in_context = sum(1 for s in segments if s.kind == "message" and s.message_index is not None)
        if self.cycle:
            in_context += 1
        return BuiltPrompt(
            text=text,
            stop=tuple(stop),
            n_tokens=n_tokens,
            segments=segments,
            format_name=req.format.name,
            messages_in_context=in_context,
            examples_in_context=n_examples,
            reply_prefix=p.prompt_bias,
            continue_text=self.continue_text,
            world_info=p.wi.activated,
            memories=joined_text(p.memories, collapse=collapse),
            story_so_far=joined_text(p.story_so_far, collapse=collapse),
        )
