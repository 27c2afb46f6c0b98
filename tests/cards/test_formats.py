"""JSON (V1/V2/V3/Pygmalion), YAML and CHARX: reading, upgrading and writing."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from app.cards.model import CardAsset, CharacterCard
from app.cards.read import read_card
from app.cards.write import write_charx, write_json, write_png

V1_CARD: dict[str, Any] = {
    "name": "Tobias",
    "description": "A lighthouse keeper. 灯台守。",
    "personality": "gruff, kind",
    "scenario": "A storm night.",
    "first_mes": "*He opens the door.* Come in 🌧️",
    "mes_example": "<START>\n{{user}}: Hello\n{{char}}: Hm.",
    "creatorcomment": "Made by hand",
    "avatar": "none",
    "chat": "Tobias - 2023-1-1 @10h 00m 00s 000ms",
    "talkativeness": "0.5",
    "fav": False,
    "create_date": "2023-1-1 @10h 00m 00s 000ms",
    "tags": ["sea", "cozy"],
    "x_unknown": {"nested": [1, {"deep": True}]},
}


def _zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, blob in files.items():
            archive.writestr(name, blob)
    return buffer.getvalue()


def test_v1_upgrade_keeps_everything() -> None:
    card = read_card(json.dumps(V1_CARD).encode(), source_name="tobias.json")
    assert card.spec == "chara_card_v1"
    for key in ("name", "description", "personality", "scenario", "first_mes", "mes_example"):
        assert card.data[key] == V1_CARD[key]
    assert card.creator_notes == "Made by hand"
    assert card.tags == ["sea", "cozy"]
    assert card.extra == {
        k: V1_CARD[k]
        for k in ("avatar", "chat", "talkativeness", "fav", "create_date", "x_unknown")
    }
    assert card.data["group_only_greetings"] == [] and card.data["extensions"] == {}


@pytest.mark.parametrize("version", [2, 3])
def test_v1_written_as_v2_or_v3_and_read_back(version: int) -> None:
    card = read_card(json.dumps(V1_CARD).encode(), source_name="tobias.json")
    out = write_json(card, version=version)  # type: ignore[arg-type]
    obj = json.loads(out)
    assert obj["spec"] == f"chara_card_v{version}"
    assert obj["spec_version"] == f"{version}.0"
    assert obj["x_unknown"] == V1_CARD["x_unknown"]
    if version == 2:  # ST's V2 keeps the V1 fields at the top level
        assert {k: obj[k] for k in V1_CARD} == V1_CARD
    back = read_card(out, source_name="tobias2.json")
    assert back == card


def test_utf16_and_bom_json() -> None:
    text = json.dumps({"name": "Wide ✓"}, ensure_ascii=False)
    assert read_card(text.encode("utf-16"), source_name="w.json").name == "Wide ✓"
    assert read_card(text.encode("utf-8-sig"), source_name="b.json").name == "Wide ✓"


def test_v1_tags_as_comma_string() -> None:
    card = read_card(b'{"name": "T", "tags": "a, b,,c "}', source_name="t.json")
    assert card.tags == ["a", "b", "c"]


def test_v2_data_wins_over_top_level() -> None:
    obj = {
        "name": "Top",
        "description": "top",
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {"name": "Inner", "description": "inner", "extensions": {}},
    }
    card = read_card(json.dumps(obj).encode(), source_name="c.json")
    assert (card.name, card.description) == ("Inner", "inner")
    assert card.extra == {}


def test_v2_missing_data_fields_filled_from_top_level() -> None:
    obj = {
        "name": "Top",
        "first_mes": "hi",
        "creatorcomment": "note",
        "tags": ["x"],
        "spec": "chara_card_v2",
        "data": {"description": "d"},
    }
    card = read_card(json.dumps(obj).encode(), source_name="c.json")
    assert (card.name, card.first_mes, card.creator_notes, card.tags) == (
        "Top",
        "hi",
        "note",
        ["x"],
    )


def test_v3_newer_version_still_imports() -> None:
    obj = {
        "spec": "chara_card_v3",
        "spec_version": "3.1",
        "data": {"name": "Future", "x_new_field": [1, 2]},
        "x_top": "kept",
    }
    card = read_card(json.dumps(obj).encode(), source_name="f.json")
    assert card.spec_version == "3.1"
    assert card.data["x_new_field"] == [1, 2]
    assert card.extra == {"x_top": "kept"}


def test_pygmalion_json() -> None:
    obj = {
        "char_name": "Pyg",
        "char_persona": "persona",
        "char_greeting": "hello",
        "world_scenario": "a cave",
        "example_dialogue": "You: hi",
        "x": 1,
    }
    card = read_card(json.dumps(obj).encode(), source_name="pyg.json")
    assert card.spec == "pygmalion"
    assert (card.name, card.description, card.first_mes, card.scenario, card.mes_example) == (
        "Pyg",
        "persona",
        "hello",
        "a cave",
        "You: hi",
    )
    assert card.extra == {"x": 1}


def test_text_generation_webui_yaml() -> None:
    text = (
        "name: Chiharu Yamada\n"
        "greeting: |-\n  *Chiharu strides into the room* Hey! 🎮\n"
        "context: |-\n  Chiharu Yamada's Persona: a tech enthusiast.\n"
        "example_dialogue: '{{user}}: So how did you get into computer engineering?'\n"
        "your_name: You\n"
    )
    card = read_card(text.encode(), source_name="Chiharu.yaml")
    assert card.spec == "text_generation_webui"
    assert card.source_format == "yaml"
    assert card.name == "Chiharu Yamada"
    assert card.first_mes == "*Chiharu strides into the room* Hey! 🎮"
    assert card.description == "Chiharu Yamada's Persona: a tech enthusiast."
    assert card.mes_example.startswith("{{user}}: So how")
    assert card.extra == {"your_name": "You"}
    back = read_card(write_png(card), source_name="c.png")
    assert back.data == card.data and back.extra == card.extra


def test_yaml_with_bot_key() -> None:
    card = read_card(b"bot: Old Style\ncontext: ctx\n", source_name="o.yml")
    assert (card.name, card.description) == ("Old Style", "ctx")


def test_built_card_survives_every_format(small_png: bytes) -> None:
    card = CharacterCard(
        {
            "name": "Ольга 🌸",
            "description": "Многоязычный текст — 多言語 — עברית — emoji 👩‍🚀",
            "first_mes": 'Line 1\nLine 2\t"quoted" \\ backslash \u0000 nul',
            "alternate_greetings": ["¡Hola!", "Bonjour 🇫🇷"],
            "creator_notes_multilingual": {"ru": "Заметки", "zh": "笔记"},
            "extensions": {
                "depth_prompt": {"prompt": "p", "depth": 4, "role": "system"},
                "x_app": {"a": [1, 2.5, None, {"b": [True, False]}]},
            },
            "x_unknown_data_key": {"keep": "me"},
            "character_book": {
                "name": "Book",
                "entries": [
                    {
                        "keys": ["k"],
                        "content": "c",
                        "extensions": {"x": {"y": 1}},
                        "enabled": True,
                        "insertion_order": 10,
                        "use_regex": False,
                        "x_entry_key": "kept",
                    }
                ],
                "x_book_key": 1,
            },
        },
        extra={"x_top_level": ["kept", {"too": 1}]},
        avatar=small_png,
    )
    from_png = read_card(write_png(card), source_name="o.png")
    assert from_png == card
    without_avatar = dataclasses.replace(card, avatar=None)  # JSON holds no image
    assert read_card(write_json(card, 2), source_name="o.json") == without_avatar
    assert read_card(write_json(card, 3), source_name="o.json") == without_avatar
    from_charx = read_card(write_charx(card), source_name="o.charx")
    assert {k: v for k, v in from_charx.data.items() if k != "assets"} == card.data
    assert from_charx.extra == card.extra
    assert from_charx.avatar == card.avatar


def test_charx_round_trip_keeps_assets_and_extra_files(small_png: bytes) -> None:
    card = CharacterCard(
        {
            "name": "Risu",
            "assets": [
                {
                    "type": "icon",
                    "uri": "embeded://assets/icon/images/main.png",
                    "name": "main",
                    "ext": "png",
                },
                {
                    "type": "emotion",
                    "uri": "embeded://assets/emotion/images/joy.webp",
                    "name": "joy",
                    "ext": "webp",
                },
                {
                    "type": "background",
                    "uri": "https://example.com/bg.png",
                    "name": "bg",
                    "ext": "png",
                },
            ],
        },
        avatar=small_png,
        assets=[
            CardAsset(
                "emotion",
                "joy",
                "embeded://assets/emotion/images/joy.webp",
                "webp",
                b"RIFF....WEBPfake",
            )
        ],
        extra_files={"module.risum": b"\x00\x01binary"},
    )
    archive = write_charx(card)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        names = zf.namelist()
        assert names[0] == "card.json"
        assert zf.read("assets/icon/images/main.png") == small_png
    assert set(names) == {
        "card.json",
        "assets/icon/images/main.png",
        "assets/emotion/images/joy.webp",
        "module.risum",
    }
    back = read_card(archive, source_name="risu.charx")
    assert back == card
    assert write_charx(back) == archive  # deterministic


def test_charx_with_jpeg_icon_and_self_extracting_prefix(
    make_image: Callable[..., bytes],
) -> None:
    jpeg = make_image((10, 10), "red", "JPEG")
    card_json = {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": "Jay",
            "assets": [
                {
                    "type": "icon",
                    "uri": "embeded://assets/icon/images/a.jpg",
                    "name": "main",
                    "ext": "jpg",
                }
            ],
        },
    }
    archive = b"MZ fake stub " + _zip(
        {"card.json": json.dumps(card_json).encode(), "assets/icon/images/a.jpg": jpeg}
    )
    card = read_card(archive, source_name="jay.charx")
    assert card.avatar is not None and card.avatar.startswith(b"\x89PNG")
    assert [a.data for a in card.assets] == [jpeg]  # the original JPEG is kept as an asset
    again = read_card(write_charx(card), source_name="jay2.charx")
    assert again.assets[0].data == jpeg


def test_charx_without_main_name_uses_first_image_icon(small_png: bytes) -> None:
    card_json = {
        "spec": "chara_card_v3",
        "data": {
            "name": "N",
            "assets": [
                {"type": "icon", "uri": "embedded://x/face.png", "name": "face", "ext": "png"}
            ],
        },
    }
    archive = _zip({"card.json": json.dumps(card_json).encode(), "x/face.png": small_png})
    card = read_card(archive, source_name="n.charx")
    assert card.avatar == small_png
    assert card.assets == []


def test_json_card_as_charx_gets_main_icon_entry(small_png: bytes) -> None:
    card = CharacterCard.create("Plain", avatar=small_png)
    card_json = json.loads(zipfile.ZipFile(io.BytesIO(write_charx(card))).read("card.json"))
    assert card_json["data"]["assets"] == [
        {
            "type": "icon",
            "uri": "embeded://assets/icon/images/main.png",
            "name": "main",
            "ext": "png",
        }
    ]
