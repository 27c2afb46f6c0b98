"""Prompt itemization: the tokens each part of a built prompt takes.

SillyTavern's prompt itemization shows how a prompt splits into the story string,
examples, World Info, the author's note, the chat history and so on.  :func:`itemize`
does the same for a :class:`~app.prompt.types.BuiltPrompt` from its segments, with
long-term memory (the recalled memories block and the story so far) as parts of their
own; the command line (``parlor prompt --breakdown``) and the UI's Show prompt both use
it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from app.prompt.types import BuiltPrompt, SegmentKind, TokenCounter

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
#: The memories block long-term memory recalled, wherever its position put it.
MEMORIES_LABEL = "Memories (recalled)"
#: The story so far: summaries of what left the context and the user's pinned facts.
STORY_SO_FAR_LABEL = "Story so far (summaries, pinned facts)"
#: Segment kinds that World Info entries are placed in (and are looked for in).
_LORE_HOSTS: frozenset[SegmentKind] = frozenset({"story", "examples", "injection"})
#: Segment kinds that memory is placed in: the story string (after it, before the whole
#: prompt) and the in-chat injections (at a depth; the story string too, where the
#: format puts it in the chat).
_MEMORY_HOSTS: frozenset[SegmentKind] = frozenset({"story", "injection"})


@dataclass(frozen=True)
class PromptPart:
    """One part of a prompt: what it is, its token count and its text."""

    label: str
    tokens: int
    text: str


def itemize(prompt: BuiltPrompt, count_tokens: TokenCounter) -> list[PromptPart]:
    """The prompt's parts, in the order each first appears, with their tokens.

    Every character of the prompt belongs to exactly one part, so the parts' texts
    joined in prompt order give the prompt back.  The memories block and the story so
    far are cut out of the story string or the in-chat injection that holds them (one
    with a dice macro, ``{{roll}}`` or ``{{random}}``, stays where it was placed), and
    the text of each activated World Info entry that appears verbatim in the rest of
    the story string, the examples or an in-chat injection is counted as World Info
    (entries with macros in them stay where they were placed).  Tokens are counted per
    part, so their sum may differ from the whole prompt's count by a token or two at
    the seams.
    """
    pieces = [_Piece(PART_LABELS.get(s.kind, s.kind), s.text, s.kind) for s in prompt.segments]
    for cut in _cuts(prompt):
        pieces = _cut_from(pieces, cut)
    grouped: dict[str, list[str]] = {}
    for piece in pieces:
        grouped.setdefault(piece.label, []).append(piece.text)
    return [
        PromptPart(label, count_tokens(text), text)
        for label, text in ((label, "".join(texts)) for label, texts in grouped.items())
    ]


@dataclass(frozen=True)
class _Piece:
    """Text of the prompt under its label; ``host`` is the kind of the segment it is
    still part of (None once it has been cut out as a part of its own)."""

    label: str
    text: str
    host: SegmentKind | None


@dataclass(frozen=True)
class _Cut:
    """Texts to count under ``label``, each looked for once in segments of ``hosts``."""

    label: str
    texts: tuple[str, ...]
    hosts: frozenset[SegmentKind]


def _cuts(prompt: BuiltPrompt) -> list[_Cut]:
    """What is cut out of the segments, in this order: memory first, then lore."""
    lore = tuple(entry.content.strip() for entry in prompt.world_info)
    return [
        _Cut(MEMORIES_LABEL, (prompt.memories,), _MEMORY_HOSTS),
        _Cut(STORY_SO_FAR_LABEL, (prompt.story_so_far,), _MEMORY_HOSTS),
        _Cut(WORLD_INFO_LABEL, lore, _LORE_HOSTS),
    ]


def _cut_from(pieces: list[_Piece], cut: _Cut) -> list[_Piece]:
    """``pieces`` with each of the cut's texts split off the first host piece holding it."""
    remaining = sorted((text for text in cut.texts if text), key=len, reverse=True)
    result: list[_Piece] = []
    for piece in pieces:
        if piece.host not in cut.hosts or not remaining:
            result.append(piece)
            continue
        split, remaining = _cut_out(piece.text, remaining)
        result += [
            _Piece(cut.label, text, None) if is_cut else _Piece(piece.label, text, piece.host)
            for is_cut, text in split
        ]
    return result


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
