"""Property tests: random card JSON (extra keys, any Unicode) survives every writer."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.cards.model import RESERVED_TOP_LEVEL, CharacterCard
from app.cards.read import read_card
from app.cards.write import write_charx, write_json, write_png

KNOWN_DATA_KEYS = {
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
    "alternate_greetings",
    "tags",
    "group_only_greetings",
    "extensions",
    "character_book",
    "assets",
    "nickname",
    "creator_notes_multilingual",
    "source",
    "creation_date",
    "modification_date",
}

text = st.text(max_size=40)
leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_value = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)
name = st.text(min_size=1, max_size=30).filter(lambda s: bool(s.strip()))
extra_data = st.dictionaries(
    text.filter(lambda k: k not in KNOWN_DATA_KEYS), json_value, max_size=4
)
extra_top = st.dictionaries(
    text.filter(lambda k: k not in RESERVED_TOP_LEVEL), json_value, max_size=4
)


@st.composite
def cards(draw: st.DrawFn) -> CharacterCard:
    data: dict[str, Any] = {"name": draw(name)}
    for key in (
        "description",
        "personality",
        "scenario",
        "first_mes",
        "mes_example",
        "creator_notes",
        "system_prompt",
        "creator",
    ):
        data[key] = draw(text)
    data["alternate_greetings"] = draw(st.lists(text, max_size=3))
    data["tags"] = draw(st.lists(text, max_size=3))
    data["extensions"] = draw(st.dictionaries(text, json_value, max_size=4))
    if draw(st.booleans()):
        data["nickname"] = draw(text)
        data["creator_notes_multilingual"] = draw(st.dictionaries(text, text, max_size=2))
    data.update(draw(extra_data))
    return CharacterCard(data, extra=draw(extra_top), avatar=_tiny_png(), source_name="prop")


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 3), "navy").save(buffer, format="PNG")
    return buffer.getvalue()


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(cards())
def test_png_round_trip(card: CharacterCard) -> None:
    assert read_card(write_png(card), source_name="p.png") == card


@SETTINGS
@given(cards(), st.sampled_from([2, 3]))
def test_json_round_trip(card: CharacterCard, version: int) -> None:
    back = read_card(write_json(card, version), source_name="p.json")  # type: ignore[arg-type]
    assert back == dataclasses.replace(card, avatar=None)


@SETTINGS
@given(cards())
def test_charx_round_trip(card: CharacterCard) -> None:
    back = read_card(write_charx(card), source_name="p.charx")
    assert {k: v for k, v in back.data.items() if k != "assets"} == card.data
    assert back.extra == card.extra
    assert back.avatar == card.avatar
    assert read_card(write_charx(back), source_name="q.charx") == back


@SETTINGS
@given(cards())
def test_document_round_trip(card: CharacterCard) -> None:
    assert CharacterCard.from_document(card.to_document(), avatar=card.avatar) == card
