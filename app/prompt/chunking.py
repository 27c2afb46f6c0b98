"""Splitting message text into chunks for long-term memory (pure code).

A chunk is at most about ``size`` characters, cut at a paragraph break where one falls
inside the limit, else at a sentence end, else at a space; a single word longer than the
limit is cut where it must be.
"""

from __future__ import annotations

import re

#: The chunk size memory uses, in characters.
CHUNK_CHARS = 400

_SPLITTERS = (
    re.compile(r"\n\s*\n"),  # paragraphs
    re.compile(r"(?<=[.!?…。])[\"'”’)\]]*\s+"),  # sentences
    re.compile(r"\s+"),  # words
)


def chunk_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """``text`` in chunks of at most ``size`` characters (none empty, whitespace trimmed)."""
    text = text.strip()
    if not text:
        return []
    return [c for c in _split(text, size, 0) if c]


def _split(text: str, size: int, level: int) -> list[str]:
    if len(text) <= size:
        return [text.strip()]
    if level == len(_SPLITTERS):
        return [text[i : i + size].strip() for i in range(0, len(text), size)]
    pieces = [p for p in _pieces(text, _SPLITTERS[level]) if p.strip()]
    if len(pieces) == 1:
        return _split(text, size, level + 1)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if len(piece.strip()) > size:
            chunks.append(current.strip())
            chunks.extend(_split(piece.strip(), size, level + 1))
            current = ""
        elif len((current + piece).strip()) > size:
            chunks.append(current.strip())
            current = piece
        else:
            current += piece
    chunks.append(current.strip())
    return chunks


def _pieces(text: str, splitter: re.Pattern[str]) -> list[str]:
    """``text`` cut after each separator, the separator kept with the piece before it."""
    pieces: list[str] = []
    start = 0
    for match in splitter.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    return pieces
