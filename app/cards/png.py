"""A chunk-level PNG reader and writer: card text goes in and out, image bytes stay exact.

Only what character cards need: split a PNG into chunks, read ``tEXt`` chunks, and
write a PNG with some ``tEXt`` chunks removed and others inserted before ``IEND``.
Every other chunk is copied byte for byte (its CRC included).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from app.errors import CardError

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"

#: ``tEXt`` keywords that hold card JSON (compared case-insensitively, as ST does).
CARD_KEYWORDS: Final = frozenset({"chara", "ccv3"})

_HEADER: Final = struct.Struct(">I4s")


@dataclass(frozen=True)
class Chunk:
    """One PNG chunk: its type, its data, and its raw bytes (length, type, data, CRC)."""

    type: bytes
    data: bytes
    raw: bytes

    def text(self) -> tuple[str, bytes] | None:
        """For a ``tEXt`` chunk, return ``(keyword, text bytes)``; otherwise None."""
        if self.type != b"tEXt" or b"\0" not in self.data:
            return None
        keyword, text = self.data.split(b"\0", 1)
        return keyword.decode("latin-1"), text


def is_png(data: bytes) -> bool:
    """Return True if ``data`` starts with the PNG signature."""
    return data.startswith(PNG_SIGNATURE)


def parse_chunks(data: bytes, source: str) -> list[Chunk]:
    """Split a PNG into chunks, up to and including ``IEND``; bytes after it are dropped.

    Raises :class:`~app.errors.CardError` naming ``source`` for a missing signature, a
    truncated chunk, a first chunk that is not ``IHDR`` or a missing ``IEND``.
    """
    if not is_png(data):
        raise CardError(source, "not a PNG image (no PNG signature)")
    chunks: list[Chunk] = []
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while True:
        if pos + 12 > end:
            raise CardError(source, "truncated PNG: no IEND chunk")
        length, ctype = _HEADER.unpack_from(data, pos)
        if not ctype.isalpha() or not ctype.isascii():
            raise CardError(source, f"corrupt PNG: bad chunk type at byte {pos + 4}")
        stop = pos + 12 + length
        if stop > end:
            raise CardError(source, f"truncated PNG: {ctype.decode('ascii')} chunk is cut off")
        if not chunks and ctype != b"IHDR":
            raise CardError(source, "corrupt PNG: first chunk is not IHDR")
        chunks.append(Chunk(ctype, data[pos + 8 : pos + 8 + length], data[pos:stop]))
        pos = stop
        if ctype == b"IEND":
            return chunks


def make_chunk(ctype: bytes, body: bytes) -> bytes:
    """Encode one chunk with its length and CRC."""
    crc = zlib.crc32(ctype + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc)


def make_text_chunk(keyword: str, text: bytes) -> bytes:
    """Encode a ``tEXt`` chunk (keyword in Latin-1, text as given)."""
    return make_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text)


def is_card_chunk(chunk: Chunk) -> bool:
    """Return True for a ``tEXt`` chunk whose keyword is ``chara`` or ``ccv3`` (any case)."""
    text = chunk.text()
    return text is not None and text[0].lower() in CARD_KEYWORDS


def card_texts(chunks: Iterable[Chunk]) -> dict[str, bytes]:
    """Return the first ``chara`` / ``ccv3`` text of each kind, keyed in lower case."""
    found: dict[str, bytes] = {}
    for chunk in chunks:
        text = chunk.text()
        if text is not None and text[0].lower() in CARD_KEYWORDS:
            found.setdefault(text[0].lower(), text[1])
    return found


def rebuild(chunks: Iterable[Chunk], insert_before_iend: Iterable[bytes] = ()) -> bytes:
    """Join chunks into a PNG, dropping card chunks and inserting raw chunks before IEND."""
    out = [PNG_SIGNATURE]
    tail: list[bytes] = []
    for chunk in chunks:
        if is_card_chunk(chunk):
            continue
        if chunk.type == b"IEND":
            tail.append(chunk.raw)
            continue
        out.append(chunk.raw)
    out.extend(insert_before_iend)
    out.extend(tail)
    return b"".join(out)


def strip_card_chunks(data: bytes, source: str) -> bytes:
    """Return the PNG without its ``chara``/``ccv3`` chunks (and without bytes after IEND)."""
    return rebuild(parse_chunks(data, source))
