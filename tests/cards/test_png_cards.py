"""PNG cards: SillyTavern's bundled Seraphina and cards built here, read and written."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from app.cards import png
from app.cards.model import CharacterCard
from app.cards.read import read_card
from app.cards.write import write_png


def _chunk_json(data: bytes, keyword: str) -> dict[str, Any]:
    texts = png.card_texts(png.parse_chunks(data, "test"))
    result: dict[str, Any] = json.loads(base64.b64decode(texts[keyword]).decode("utf-8"))
    return result


def test_seraphina_png_reads_the_ccv3_chunk(cards_dir: Path, seraphina_v3: dict[str, Any]) -> None:
    card = read_card(cards_dir / "default_Seraphina.png")
    assert card.data == seraphina_v3["data"]
    assert card.spec == "chara_card_v3"
    assert card.spec_version == "3.0"
    assert card.source_name == "default_Seraphina.png"
    assert card.extra == {
        k: seraphina_v3[k] for k in ("avatar", "chat", "create_date", "talkativeness", "fav")
    }


def test_seraphina_accessors(cards_dir: Path) -> None:
    card = read_card(cards_dir / "default_Seraphina.png")
    assert card.name == "Seraphina"
    assert card.creator == "OtisAlejandro"
    assert card.character_version == "1.0.0"
    assert card.creator_notes == "ST Default Bot contest winner: roleplay bots category"
    assert card.description.startswith("[Seraphina's Personality=")
    assert card.first_mes.startswith("*You wake with a start")
    assert card.extensions["world"] == "Eldoria"
    assert card.talkativeness == 0.5
    assert card.depth_prompt is None  # its Character's Note is empty
    assert card.group_only_greetings == []
    assert card.nickname == ""
    assert card.creation_date is None
    book = card.character_book
    assert book is not None
    assert book.name == "Eldoria"
    assert len(book) == 4
    assert book.entries[0].keys == ["eldoria", "wood", "forest", "magical forest"]
    assert book.entries[0].use_regex is True


def test_rewriting_seraphina_is_byte_identical(seraphina_png: bytes) -> None:
    card = read_card(seraphina_png, source_name="default_Seraphina.png")
    assert write_png(card) == seraphina_png


def test_written_chunks_match_the_decoded_reference(
    seraphina_png: bytes, seraphina_v2: dict[str, Any], seraphina_v3: dict[str, Any]
) -> None:
    card = read_card(seraphina_png, source_name="s.png")
    out = write_png(card)
    assert _chunk_json(out, "chara") == seraphina_v2
    assert _chunk_json(out, "ccv3") == seraphina_v3
    assert list(_chunk_json(out, "chara")) == list(seraphina_v2)  # ST's key order too


def test_png_round_trip_is_lossless(seraphina_png: bytes) -> None:
    first = read_card(seraphina_png, source_name="a.png")
    second = read_card(write_png(first), source_name="b.png")
    assert second == first
    assert second.avatar == first.avatar


def test_avatar_keeps_every_image_chunk(seraphina_png: bytes) -> None:
    card = read_card(seraphina_png, source_name="s.png")
    assert card.avatar is not None
    kept = [c.raw for c in png.parse_chunks(card.avatar, "avatar")]
    original = [c.raw for c in png.parse_chunks(seraphina_png, "s") if not png.is_card_chunk(c)]
    assert kept == original


def _png_with_texts(base: bytes, texts: list[tuple[str, bytes]]) -> bytes:
    chunks = png.parse_chunks(base, "base")
    return png.rebuild(chunks, [png.make_text_chunk(k, v) for k, v in texts])


def _b64(obj: dict[str, Any]) -> bytes:
    return base64.b64encode(json.dumps(obj).encode("utf-8"))


def test_ccv3_wins_over_chara(small_png: bytes) -> None:
    data = _png_with_texts(
        small_png,
        [
            ("chara", _b64({"spec": "chara_card_v2", "data": {"name": "From chara"}})),
            ("ccv3", _b64({"spec": "chara_card_v3", "data": {"name": "From ccv3"}})),
        ],
    )
    assert read_card(data, source_name="x.png").name == "From ccv3"


def test_keywords_are_case_insensitive(small_png: bytes) -> None:
    data = _png_with_texts(small_png, [("Chara", _b64({"name": "Old V1", "description": "d"}))])
    card = read_card(data, source_name="x.png")
    assert card.name == "Old V1"
    assert card.spec == "chara_card_v1"


def test_broken_ccv3_falls_back_to_chara(small_png: bytes) -> None:
    data = _png_with_texts(
        small_png,
        [("chara", _b64({"spec": "chara_card_v2", "data": {"name": "Fine"}})), ("ccv3", b"%%%")],
    )
    assert read_card(data, source_name="x.png").name == "Fine"


def test_write_replaces_existing_card_chunks_before_iend(small_png: bytes) -> None:
    stale = _png_with_texts(
        small_png,
        [
            ("CHARA", _b64({"name": "Stale"})),
            ("ccv3", _b64({"name": "Stale"})),
            ("Comment", b"kept"),
        ],
    )
    card = CharacterCard.create("Fresh", avatar=stale)
    out = write_png(card)
    chunks = png.parse_chunks(out, "out")
    texts = [c.text() for c in chunks if c.type == b"tEXt"]
    assert [t[0] for t in texts if t] == ["Comment", "chara", "ccv3"]
    assert [c.type for c in chunks][-3:] == [b"tEXt", b"tEXt", b"IEND"]
    assert read_card(out, source_name="o.png").name == "Fresh"
    v2 = _chunk_json(out, "chara")
    assert v2["spec"] == "chara_card_v2" and v2["spec_version"] == "2.0"
    assert v2["name"] == "Fresh" and v2["data"]["name"] == "Fresh"
    v3 = _chunk_json(out, "ccv3")
    assert {k: v for k, v in v3.items() if k not in ("spec", "spec_version")} == {
        k: v for k, v in v2.items() if k not in ("spec", "spec_version")
    }
    assert v3["spec"] == "chara_card_v3" and v3["spec_version"] == "3.0"


def test_v1_fields_are_mirrored_at_top_level(small_png: bytes) -> None:
    card = CharacterCard.create(
        "Mirror",
        avatar=small_png,
        description="desc",
        personality="pers",
        scenario="scen",
        first_mes="hello",
        mes_example="<START>\n{{user}}: hi",
        creator_notes="notes",
        tags=["a", "b"],
    )
    v2 = _chunk_json(write_png(card), "chara")
    for key in ("name", "description", "personality", "scenario", "first_mes", "mes_example"):
        assert v2[key] == v2["data"][key]
    assert v2["creatorcomment"] == "notes"
    assert v2["tags"] == ["a", "b"]


def test_card_without_avatar_gets_a_default_image() -> None:
    out = write_png(CharacterCard.create("Faceless"))
    card = read_card(out, source_name="f.png")
    assert card.name == "Faceless"
    assert card.avatar is not None
    ihdr = png.parse_chunks(card.avatar, "a")[0]
    assert (int.from_bytes(ihdr.data[:4]), int.from_bytes(ihdr.data[4:8])) == (400, 600)
    assert write_png(CharacterCard.create("Faceless")) == out  # deterministic


@pytest.mark.parametrize("name", ["Seraphina_chara.json", "Seraphina_ccv3.json"])
def test_reference_json_reads_like_the_png(
    cards_dir: Path, seraphina_v3: dict[str, Any], name: str
) -> None:
    card = read_card(cards_dir / name)
    assert card.data == seraphina_v3["data"]
    assert card.source_format == "json"
