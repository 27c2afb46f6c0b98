"""Packing texts into passes of a few fixed shapes (app/engine/packing.py)."""

from __future__ import annotations

import random

from app.engine.packing import PASS_TOKENS, SHORT_ROW, packed_passes, split_in_parts

LONGEST = 256


def test_every_text_is_in_exactly_one_row_that_holds_it() -> None:
    rng = random.Random(3)
    lengths = [rng.randint(2, LONGEST) for _ in range(500)]
    passes = list(packed_passes(lengths, LONGEST))
    placed = [text for one in passes for row in one.rows for text in row]
    assert sorted(placed) == list(range(len(lengths)))
    for one in passes:
        assert len(one.rows) * one.row_length <= max(PASS_TOKENS, one.row_length)
        for row in one.rows:
            assert sum(lengths[text] for text in row) <= one.row_length


def test_short_texts_share_rows_and_long_ones_have_a_row_of_the_longest_input() -> None:
    lengths = [40, 40, 40, 200, 30]
    passes = list(packed_passes(lengths, LONGEST))
    assert [(p.row_length, p.rows) for p in passes] == [
        (SHORT_ROW, ((0, 1, 2), (4,))),
        (LONGEST, ((3,),)),
    ]


def test_a_turns_few_texts_share_one_row_of_their_size() -> None:
    assert [(p.row_length, p.rows) for p in packed_passes([20], LONGEST)] == [(32, ((0,),))]
    assert [(p.row_length, p.rows) for p in packed_passes([20, 30, 10], LONGEST)] == [
        (64, ((1, 0, 2),))
    ]


def test_texts_of_any_lengths_make_few_shapes() -> None:
    """What torch compiles (and keeps) per input shape stays bounded however many
    texts of however many lengths are embedded."""
    rng = random.Random(7)
    shapes = set()
    for _ in range(300):
        count = rng.choice([1, 1, 2, 3, rng.randint(1, 2000)])
        lengths = [rng.randint(2, LONGEST) for _ in range(count)]
        shapes |= {(len(p.rows), p.row_length) for p in packed_passes(lengths, LONGEST)}
    row_lengths = {length for _, length in shapes}
    assert row_lengths <= {16, 32, 64, SHORT_ROW, LONGEST}
    # one row of each short length; 2–16 rows of SHORT_ROW; 1–8 rows of the longest
    assert len(shapes) <= 4 + 4 + 4


def test_parts_are_full_then_powers_of_two() -> None:
    assert split_in_parts(0, 16) == []
    assert split_in_parts(5, 16) == [4, 1]
    assert split_in_parts(16, 16) == [16]
    assert split_in_parts(47, 16) == [16, 16, 8, 4, 2, 1]
