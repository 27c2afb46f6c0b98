"""Packing tokenized texts into rows of a few fixed lengths, for one encoder pass each.

torch keeps what it compiles for every input shape it meets in bfloat16 on the CPU
(2–3 MB a shape, never freed): embedding texts padded to their own lengths, a long
session's queries of every length grew the process by hundreds of MB.  Packed, a pass
has one of a few shapes: rows of a power of two of tokens from :data:`SHORTEST_ROW` to
:data:`SHORT_ROW` (or the model's longest input, for longer texts), in a power-of-two
number of rows.  Several short texts share a row, each attending to itself only, so
nothing is spent on padding either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: The shortest row, in tokens.
SHORTEST_ROW = 16
#: The longest row for texts that fit it (chat chunks of 400 characters are about 100
#: tokens); a longer text gets a row of the model's longest input.
SHORT_ROW = 128
#: Tokens in one encoder pass (16 rows of 128): on 2 cores, as fast as any size tried.
PASS_TOKENS = 2048


@dataclass(frozen=True)
class Pass:
    """One encoder pass: ``rows`` lists, for each row, the indices of its texts."""

    row_length: int
    rows: tuple[tuple[int, ...], ...]


def packed_passes(lengths: Sequence[int], longest_input: int) -> Iterator[Pass]:
    """The passes that embed texts of ``lengths`` tokens (each at most
    ``longest_input``): texts longer than :data:`SHORT_ROW` one to a row of
    ``longest_input``, the rest packed first-fit, longest first, into short rows."""
    short = [i for i, n in enumerate(lengths) if n <= SHORT_ROW]
    long = [(i,) for i, n in enumerate(lengths) if n > SHORT_ROW]
    if short:
        row = _short_row([lengths[i] for i in short])
        yield from _passes(_first_fit(short, lengths, row), row)
    if long:
        yield from _passes(long, longest_input)


def _short_row(lengths: Sequence[int]) -> int:
    """A row holding the longest text, and all of them if they fit in
    :data:`SHORT_ROW` (a turn's few texts share one row of their size)."""
    return max(_rounded(max(lengths)), min(SHORT_ROW, _rounded(sum(lengths))))


def _rounded(tokens: int) -> int:
    """The shortest row of at least ``tokens``: a power of two (a turn's query of 70
    tokens pads to 128, a few milliseconds; every length a shape of its own cost MBs)."""
    return max(SHORTEST_ROW, 1 << (tokens - 1).bit_length())


def _first_fit(texts: Sequence[int], lengths: Sequence[int], row: int) -> list[tuple[int, ...]]:
    """Rows of at most ``row`` tokens holding ``texts``: each text, longest first, goes
    into the first row with room for it."""
    rows: list[list[int]] = []
    room: list[int] = []
    for text in sorted(texts, key=lambda i: -lengths[i]):
        need = lengths[text]
        slot = next((r for r, free in enumerate(room) if free >= need), None)
        if slot is None:
            rows.append([text])
            room.append(row - need)
        else:
            rows[slot].append(text)
            room[slot] -= need
    return [tuple(row) for row in rows]


def _passes(rows: Sequence[tuple[int, ...]], row_length: int) -> Iterator[Pass]:
    """``rows`` grouped into passes of :data:`PASS_TOKENS`, the last in powers of two
    of rows."""
    start = 0
    for size in split_in_parts(len(rows), max(1, PASS_TOKENS // row_length)):
        yield Pass(row_length, tuple(rows[start : start + size]))
        start += size


def split_in_parts(count: int, most: int) -> list[int]:
    """``count`` split into parts of ``most``, then the rest in powers of two, largest
    first (so that few part sizes ever occur)."""
    sizes = [most] * (count // most)
    rest = count % most
    sizes += [1 << bit for bit in reversed(range(rest.bit_length())) if rest >> bit & 1]
    return sizes


class PackedRows:
    """The input tensors of one pass: each row holds its texts' tokens one after the
    other, each text numbered from position 0 and attending to its own tokens only."""

    def __init__(self, one_pass: Pass, token_ids: Sequence[Sequence[int]]) -> None:
        import torch

        shape = (len(one_pass.rows), one_pass.row_length)
        #: Token ids (0, the model's padding, after the last text).
        self.input_ids = torch.zeros(shape, dtype=torch.long)
        #: Each token's position within its own text.
        self.position_ids = torch.zeros(shape, dtype=torch.long)
        #: Each token's text, as an index into :attr:`order` (-1: padding).
        self.owner = torch.full(shape, -1, dtype=torch.long)
        #: The texts, as indices into ``token_ids``, in the order packed.
        self.order: list[int] = []
        #: How many tokens each text of :attr:`order` has.
        self.lengths: list[int] = []
        for row, texts in enumerate(one_pass.rows):
            at = 0
            for text in texts:
                ids = token_ids[text]
                span = slice(at, at + len(ids))
                self.input_ids[row, span] = torch.tensor(ids)
                self.position_ids[row, span] = torch.arange(len(ids))
                self.owner[row, span] = len(self.order)
                self.order.append(text)
                self.lengths.append(len(ids))
                at += len(ids)

    def attention_mask(self, dtype: Any = None) -> Any:
        """The additive mask (rows, 1, length, length) in ``dtype`` (float32 by default):
        0 where a token may attend another, the dtype's minimum elsewhere.  A token
        attends to its own text's tokens, and the rows' padding to the padding (so that
        no row of scores is all masked: in bfloat16 the minimum plus a score can round
        to -inf, and a row of -inf makes the softmax NaN)."""
        import torch

        dtype = dtype or torch.float32
        same = self.owner[:, :, None] == self.owner[:, None, :]
        mask = torch.zeros(same.shape, dtype=dtype)
        return mask.masked_fill_(~same, torch.finfo(dtype).min)[:, None]
