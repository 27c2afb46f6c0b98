"""Splitting a reply into its reasoning block and its answer, while it streams.

The rules are SillyTavern's (``parseReasoningFromString`` and the streaming auto-parse of
``reasoning.js``): a block counts only at the very start of the reply (whitespace
aside), everything up to the closing tag is reasoning, and both parts are trimmed.
Chunks may split anywhere, a tag included: text that may still become a tag is held
back until the next chunk decides, so a partial tag never shows in either part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.prompt.reasoning import ReasoningTemplate, TailState, tail_state

#: ``start``: not yet known whether the reply opens a block; ``thinking``: inside it;
#: ``answer``: past it (or there is none).
ParseState = Literal["start", "thinking", "answer"]


_STARTS: dict[TailState, ParseState] = {"open": "thinking", "closed": "answer", "none": "start"}


def reply_start(prompt: str, template: ReasoningTemplate | None) -> ParseState:
    """Where the reply to ``prompt`` starts: inside a block the prompt opened, after one
    it closed (thinking off), or not yet known."""
    return _STARTS[tail_state(prompt, template)]


@dataclass(frozen=True)
class Parsed:
    """What a reply holds so far: its reasoning, its answer, and where the parse is."""

    reasoning: str
    answer: str
    state: ParseState


class ReasoningParser:
    """Feeds on a reply's text chunk by chunk; :meth:`parsed` says what it holds.

    ``start="thinking"`` is for a prompt that already opened the block (a prefilled
    ``<think>``, or a continued reply whose ``reasoning`` is still open);
    ``start="answer"`` with ``answer`` continues a reply past its block.
    """

    def __init__(
        self,
        template: ReasoningTemplate | None,
        *,
        start: ParseState = "start",
        reasoning: str = "",
        answer: str = "",
    ) -> None:
        parses = template is not None and template.parses
        self._openers = template.openers if template is not None and parses else ()
        self._closers = template.closers if template is not None and parses else ()
        self._longest = max((len(c) for c in self._closers), default=1)
        self.state: ParseState = start if parses else "answer"
        self._buffer = ""
        self._body = reasoning
        self._answer = answer
        self._search_from = 0
        self._strip_answer = False
        if self.state == "thinking":
            self._scan()

    def feed(self, text: str) -> None:
        """Take the next chunk of the reply."""
        if self.state == "answer":
            self._add_answer(text)
        elif self.state == "start":
            self._buffer += text
            self._decide()
        else:
            self._body += text
            self._scan()

    def parsed(self) -> Parsed:
        """The reasoning and answer so far; text that may still become a tag is left out."""
        if self.state == "start":
            return Parsed("", "", "start")
        if self.state == "thinking":
            shown = self._body[: len(self._body) - self._held()]
            return Parsed(shown.lstrip(), "", "thinking")
        return Parsed(self._body.strip(), self._answer, "answer")

    def finish(self) -> Parsed:
        """The reply is complete: what it holds, nothing held back (a block may stay open)."""
        if self.state == "start":
            self.state = "answer"
            self._add_answer(self._buffer)
            self._buffer = ""
        if self.state == "thinking":
            return Parsed(self._body.strip(), "", "thinking")
        return self.parsed()

    def _decide(self) -> None:
        """Start of the reply: open the block, wait for more text, or there is none."""
        lead = self._buffer.lstrip()
        if not lead:
            return
        for opener in self._openers:
            if lead.startswith(opener):
                self.state, self._buffer = "thinking", ""
                self._body = lead[len(opener) :]
                self._scan()
                return
        if any(opener.startswith(lead) for opener in self._openers):
            return
        self.state = "answer"
        self._add_answer(self._buffer)
        self._buffer = ""

    def _scan(self) -> None:
        """Inside the block: look for the earliest closing tag (the longest on a tie)."""
        found: tuple[int, int] | None = None
        for closer in self._closers:
            at = self._body.find(closer, self._search_from)
            if at >= 0 and (found is None or (at, -len(closer)) < (found[0], -found[1])):
                found = (at, len(closer))
        if found is None:
            self._search_from = max(0, len(self._body) - self._longest + 1)
            return
        at, size = found
        rest = self._body[at + size :]
        self._body = self._body[:at]
        self.state, self._strip_answer = "answer", True
        self._add_answer(rest)

    def _held(self) -> int:
        """How many characters at the end of the block may be the start of a closing tag."""
        body = self._body
        for size in range(min(len(body), self._longest - 1), 0, -1):
            if any(c.startswith(body[-size:]) for c in self._closers):
                return size
        return 0

    def _add_answer(self, text: str) -> None:
        if self._strip_answer:
            text = text.lstrip()
            self._strip_answer = not text
        self._answer += text


def parse_reply(
    text: str, template: ReasoningTemplate | None, *, start: ParseState = "start"
) -> Parsed:
    """A whole reply split at once (a non-streamed API reply)."""
    parser = ReasoningParser(template, start=start)
    parser.feed(text)
    return parser.finish()
