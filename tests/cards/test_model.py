"""CharacterCard: validation, defaults, accessors and the storage document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.cards.model import CardAsset, CharacterCard
from app.cards.read import read_card
from app.errors import CardError


def _card(**data: Any) -> CharacterCard:
    return CharacterCard(data, source_name="bad.json")


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        ({}, "no name"),
        ({"name": ""}, "no name"),
        ({"name": "   "}, "no name"),
        ({"name": 7}, "data.name must be a string, got number"),
        ({"name": "A", "description": ["x"]}, "data.description must be a string, got list"),
        ({"name": "A", "alternate_greetings": "hi"}, "data.alternate_greetings must be a list"),
        ({"name": "A", "alternate_greetings": ["hi", 3]}, "alternate_greetings must be a list"),
        ({"name": "A", "tags": [None]}, "data.tags must be a list of strings"),
        ({"name": "A", "extensions": []}, "data.extensions must be an object"),
        ({"name": "A", "nickname": 5}, "data.nickname must be a string"),
        ({"name": "A", "creation_date": "2024"}, "data.creation_date must be a number"),
        ({"name": "A", "creator_notes_multilingual": {"en": 1}}, "creator_notes_multilingual"),
        ({"name": "A", "character_book": {"entries": {}}}, "character_book: entries must be"),
        (
            {"name": "A", "character_book": {"entries": [{"keys": "k"}]}},
            "character_book: entries[0].keys must be a list of strings",
        ),
        ({"name": "A", "assets": [{"uri": 3}]}, "data.assets[0].uri must be a string"),
        ({"name": "A", "extensions": {"x": float("nan")}}, "JSON cannot hold"),
    ],
)
def test_invalid_data_raises_card_error(data: dict[str, Any], phrase: str) -> None:
    with pytest.raises(CardError) as info:
        _card(**data)
    message = str(info.value)
    assert message.startswith("bad.json: ")
    assert phrase in message
    assert "\n" not in message


def test_data_that_is_not_an_object() -> None:
    with pytest.raises(CardError, match=r"^x\.json: card data must be an object, got list$"):
        CharacterCard([], source_name="x.json")  # type: ignore[arg-type]


def test_reserved_extra_key_is_refused() -> None:
    with pytest.raises(CardError, match="'tags' is reserved"):
        CharacterCard({"name": "A"}, extra={"tags": []}, source_name="x.json")


def test_avatar_must_be_png() -> None:
    with pytest.raises(CardError, match=r"x\.png \(avatar\): not a PNG image"):
        CharacterCard({"name": "A"}, avatar=b"GIF89a....", source_name="x.png")


def test_missing_and_null_fields_get_spec_defaults() -> None:
    card = CharacterCard({"name": "Nell", "personality": None, "custom": {"k": [1]}})
    assert card.data["personality"] == ""
    for key in (
        "description",
        "scenario",
        "first_mes",
        "mes_example",
        "creator_notes",
        "system_prompt",
        "post_history_instructions",
        "creator",
        "character_version",
    ):
        assert card.data[key] == ""
    for key in ("alternate_greetings", "tags", "group_only_greetings"):
        assert card.data[key] == []
    assert card.data["extensions"] == {}
    assert card.data["custom"] == {"k": [1]}
    assert "character_book" not in card.data
    assert card.character_book is None


def test_construction_copies_its_input() -> None:
    source: dict[str, Any] = {"name": "Copy", "extensions": {"deep": {"list": [1, 2]}}}
    card = CharacterCard(source)
    source["extensions"]["deep"]["list"].append(3)
    assert card.extensions == {"deep": {"list": [1, 2]}}


def test_accessors_of_v3_fields() -> None:
    card = CharacterCard.create(
        "Aiko",
        nickname="Ai",
        creator_notes_multilingual={"en": "Hello", "ja": "こんにちは"},
        creation_date=1700000000,
        modification_date=0,
        group_only_greetings=["Hi all"],
        alternate_greetings=["Yo", "Hey"],
        system_prompt="{{original}} Stay in character.",
        post_history_instructions="Be brief.",
        extensions={
            "depth_prompt": {"prompt": "note", "depth": 2, "role": "user"},
            "talkativeness": "0.8",
        },
    )
    assert card.nickname == "Ai"
    assert card.creator_notes_multilingual["ja"] == "こんにちは"
    assert card.creation_date == 1700000000
    assert card.modification_date == 0
    assert card.group_only_greetings == ["Hi all"]
    assert card.alternate_greetings == ["Yo", "Hey"]
    assert card.system_prompt.startswith("{{original}}")
    assert card.post_history_instructions == "Be brief."
    assert card.depth_prompt is not None
    assert (card.depth_prompt.prompt, card.depth_prompt.depth, card.depth_prompt.role) == (
        "note",
        2,
        "user",
    )
    assert card.talkativeness == 0.8
    assert list(card.data)[:3] == ["name", "description", "personality"]


def test_updated_returns_a_validated_copy() -> None:
    card = CharacterCard.create("Old")
    new = card.updated(name="New", tags=["t"])
    assert (card.name, new.name, new.tags) == ("Old", "New", ["t"])
    with pytest.raises(CardError, match="no name"):
        card.updated(name="")


def test_document_round_trip_of_seraphina(seraphina_png: bytes) -> None:
    card = read_card(seraphina_png, source_name="default_Seraphina.png")
    doc = card.to_document()
    assert "avatar" not in doc  # storage keeps the avatar bytes itself
    restored_doc = json.loads(json.dumps(doc))  # the document is plain JSON
    back = CharacterCard.from_document(restored_doc, avatar=card.avatar)
    assert back == card
    assert back.key_order == card.key_order
    assert (back.spec, back.spec_version, back.source_name) == (
        "chara_card_v3",
        "3.0",
        "default_Seraphina.png",
    )


def test_document_keeps_assets_and_extra_files(small_png: bytes) -> None:
    card = CharacterCard(
        {
            "name": "Packed",
            "assets": [
                {"type": "emotion", "uri": "embeded://a/joy.png", "name": "joy", "ext": "png"}
            ],
        },
        extra={"x_top": {"nested": ["é", 1.5, None]}},
        avatar=small_png,
        assets=[CardAsset("emotion", "joy", "embeded://a/joy.png", "png", b"\x00\x01joy")],
        extra_files={"x_app.json": b'{"k": 1}'},
    )
    doc = json.loads(json.dumps(card.to_document()))
    back = CharacterCard.from_document(doc, avatar=small_png)
    assert back == card
    assert back.assets[0].data == b"\x00\x01joy"
    assert back.assets[0].path == "a/joy.png"


@pytest.mark.parametrize(
    ("doc", "phrase"),
    [
        ({"format": "other"}, "not a Parlor card document"),
        ({"format": "parlor-card", "version": 99, "source_name": "z.png"}, "version 99"),
        (
            {"format": "parlor-card", "version": 1, "source_name": "z.png", "data": {"name": ""}},
            "no name",
        ),
        (
            {
                "format": "parlor-card",
                "version": 1,
                "source_name": "z.png",
                "data": {"name": "A"},
                "assets": [{"type": "icon"}],
            },
            "corrupt card document",
        ),
    ],
)
def test_bad_documents(doc: dict[str, Any], phrase: str) -> None:
    with pytest.raises(CardError, match=phrase):
        CharacterCard.from_document(doc)
