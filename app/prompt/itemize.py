"""Prompt itemization: the tokens each part of a built prompt takes.

SillyTavern's prompt itemization shows how a prompt splits into the story string,
examples, World Info, the author's note, the chat history and so on.  :func:`itemize`
does the same for a :class:`~app.prompt.types.BuiltPrompt` from its segments; the
command line (``parlor prompt --breakdown``) and the UI's Show prompt both use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from app.prompt.types import BuiltPrompt, Segment, SegmentKind, TokenCounter

#: What each kind of segment is called in a breakdown.
PART_LABELS: Mapping[SegmentKind, str] = MappingProxyType(
    {
        "story": "Story string",
        "examples": "Example dialogue",
        "chat_start": "Chat start",
        "message": "Chat history",
        "injection": "Author's note and in-chat injections",
        "post_history": "Post-history instructions",
        "alignment": "User alignment message",
        "generation": "Reply prefix",
        "continue": "Message being continued",
    }
)
#: Activated World Info entries, wherever the prompt placed them.
WORLD_INFO_LABEL = "World Info"
#: Segment kinds that World Info entries are placed in (and are looked for in).
_LORE_HOSTS: frozenset[SegmentKind] = frozenset({"story", "examples", "injection"})


@dataclass(frozen=True)
class PromptPart:
    """One part of a prompt: what it is, its token count and its text."""

    label: str
    tokens: int
    text: str


def itemize(prompt: BuiltPrompt, count_tokens: TokenCounter) -> list[PromptPart]:
    """The prompt's parts, in the order each first appears, with their tokens.

    Every character of the prompt belongs to exactly one part, so the parts' texts
    joined in prompt order give the prompt back.  The text of each activated World Info
    entry that appears verbatim in the story string, the examples or an in-chat
    injection is counted as World Info (entries with macros in them stay where they
    were placed).  Tokens are counted per part, so their sum may differ from the whole
    prompt's count by a token or two at the seams.
    """
    lore = [entry.content.strip() for entry in prompt.world_info if entry.content.strip()]
    grouped: dict[str, list[str]] = {}
    for label, text in _labelled_pieces(prompt.segments, lore):
        grouped.setdefault(label, []).append(text)
    return [
        PromptPart(label, count_tokens(text), text)
        for label, text in ((label, "".join(texts)) for label, texts in grouped.items())
    ]


def _labelled_pieces(segments: Iterable[Segment], lore: list[str]) -> list[tuple[str, str]]:
    """``(label, text)`` for every segment, World Info cut out of the segments that host it."""
    pieces: list[tuple[str, str]] = []
    remaining = sorted(lore, key=len, reverse=True)
    for segment in segments:
        label = PART_LABELS.get(segment.kind, segment.kind)
        if segment.kind not in _LORE_HOSTS or not remaining:
            pieces.append((label, segment.text))
            continue
        split, remaining = _cut_out(segment.text, remaining)
        pieces += [(WORLD_INFO_LABEL if is_lore else label, text) for is_lore, text in split]
    return pieces


def _cut_out(text: str, needles: list[str]) -> tuple[list[tuple[bool, str]], list[str]]:
    """``text`` split into ``(is_needle, piece)``; each needle is cut out once at most.

    Returns the pieces and the needles not found (still to look for elsewhere).
    """
    pieces: list[tuple[bool, str]] = []
    left = list(needles)
    rest = text
    while True:
        found = [(rest.find(n), -len(n), n) for n in left if n in rest]
        if not found:
            break
        at, _, needle = min(found)
        pieces += [(False, rest[:at]), (True, needle)]
        rest = rest[at + len(needle) :]
        left.remove(needle)
    pieces.append((False, rest))
    return [(is_needle, piece) for is_needle, piece in pieces if piece], left
