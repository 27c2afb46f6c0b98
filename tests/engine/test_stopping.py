"""Stop strings over streamed text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.engine.stopping import StopMatcher


def run(chunks: list[str], stops: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(c) for c in chunks) + matcher.flush()
    return out, matcher.stopped


def test_stop_split_across_chunks_is_never_shown() -> None:
    assert run(["Hello\nUs", "er: hi"], ["\nUser:"]) == ("Hello", True)


def test_partial_match_that_does_not_complete_is_released() -> None:
    assert run(["a\nUs", "ually"], ["\nUser:"]) == ("a\nUsually", False)


def test_earliest_of_several_stops_wins() -> None:
    assert run(["x<|eot_id|>y\nUser:"], ["\nUser:", "<|eot_id|>"]) == ("x", True)


@given(st.text(max_size=40), st.lists(st.integers(1, 5), max_size=10))
def test_chunking_never_changes_the_result(text: str, cuts: list[int]) -> None:
    stops = ["\nUser:", "END"]
    chunks, rest = [], text
    for cut in cuts:
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    whole = run([text], stops)
    assert run(chunks, stops) == whole
    expected = min((text.find(s) for s in stops if s in text), default=-1)
    assert whole[0] == (text if expected == -1 else text[:expected])
