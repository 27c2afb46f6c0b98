"""A message's reasoning as SillyTavern stores it: keys of the message's ``extra``.

``reasoning`` (the text), ``reasoning_duration`` (milliseconds) and ``reasoning_type``
(``parsed`` from the reply's text, ``manual`` when added by hand, ``edited``), per
swipe, exactly as ``reasoning.js`` writes them, so a chat exported to SillyTavern shows
the same blocks.
"""

from __future__ import annotations

from typing import Any

from app.chat.thinking import Thought

REASONING = "reasoning"
DURATION = "reasoning_duration"
KIND = "reasoning_type"

JSONDict = dict[str, Any]


def generated_extra(thought: Thought) -> JSONDict:
    """The ``extra`` keys of a reply that was just generated (none without reasoning)."""
    if not thought.text:
        return {}
    return {REASONING: thought.text, DURATION: thought.duration_ms, KIND: "parsed"}


def continued(before: Thought, thought: Thought) -> Thought:
    """A continued reply's reasoning: the block it went on in, else the one it had."""
    if not thought.text:
        return before
    spent = (before.duration_ms or 0) + (thought.duration_ms or 0)
    return Thought(thought.text, thought.thinking, spent)


def edited_extra(extra: JSONDict, text: str) -> JSONDict:
    """``extra`` with the reasoning set by hand; an empty text deletes the block."""
    if not text.strip():
        kept = {k: v for k, v in extra.items() if k not in (KIND, DURATION)}
        return {**kept, REASONING: ""} if REASONING in extra else kept
    kind = "edited" if extra.get(KIND) else "manual"
    return {**extra, REASONING: text.strip(), KIND: kind}


def stored_thought(extra: JSONDict) -> Thought:
    """The reasoning a stored message carries in its ``extra``."""
    text = extra.get(REASONING)
    duration = extra.get(DURATION)
    ms = None
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        ms = int(duration)
    return Thought(text if isinstance(text, str) else "", False, ms)
