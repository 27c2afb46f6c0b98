"""Lorebooks: the spec shape, SillyTavern World Info files and the mapping between them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.cards.lorebook import Lorebook, WorldInfo, read_world_file
from app.errors import LorebookError

#: World Info fields whose values Seraphina's book and Eldoria.json must agree on.
SHARED_FIELDS = (
    "uid",
    "key",
    "keysecondary",
    "comment",
    "content",
    "constant",
    "selective",
    "order",
    "position",
    "disable",
    "displayIndex",
    "probability",
    "useProbability",
    "depth",
    "group",
    "groupOverride",
    "groupWeight",
    "sticky",
    "cooldown",
    "delay",
    "vectorized",
    "excludeRecursion",
    "preventRecursion",
    "delayUntilRecursion",
    "scanDepth",
    "caseSensitive",
    "matchWholeWords",
    "automationId",
    "addMemo",
)


@pytest.fixture
def seraphina_book(seraphina_v3: dict[str, Any]) -> Lorebook:
    return Lorebook.from_dict(seraphina_v3["data"]["character_book"])


@pytest.fixture
def eldoria(cards_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cards_dir / "Eldoria.json").read_text("utf-8"))
    return data


def test_book_to_world_matches_eldoria(seraphina_book: Lorebook, eldoria: dict[str, Any]) -> None:
    world = seraphina_book.to_world()
    assert list(world["entries"]) == list(eldoria["entries"]) == ["0", "1", "2", "3"]
    for uid, entry in world["entries"].items():
        expected = eldoria["entries"][uid]
        assert {k: entry[k] for k in SHARED_FIELDS} == {k: expected[k] for k in SHARED_FIELDS}
    assert world["originalData"] == seraphina_book.data


def test_world_entry_has_every_default_field(seraphina_book: Lorebook) -> None:
    entry = seraphina_book.to_world()["entries"]["0"]
    for key in (
        "matchPersonaDescription",
        "matchCreatorNotes",
        "outletName",
        "triggers",
        "ignoreBudget",
        "selectiveLogic",
        "role",
        "extensions",
    ):
        assert key in entry
    assert entry["role"] == 0 and entry["triggers"] == [] and entry["ignoreBudget"] is False
    assert entry["extensions"] == seraphina_book.entries[0].extensions


def test_eldoria_world_to_book_matches_seraphina(cards_dir: Path, seraphina_book: Lorebook) -> None:
    world = read_world_file(cards_dir / "Eldoria.json")
    assert world.name == "Eldoria"
    book = world.to_lorebook()
    assert book.name == "Eldoria"
    assert len(book) == len(seraphina_book)
    for ours, theirs in zip(book.entries, seraphina_book.entries, strict=True):
        # Seraphina's book was written by an older ST: ours carries newer keys, never others.
        assert {k: v for k, v in ours.data.items() if k != "extensions"} == {
            k: v for k, v in theirs.data.items() if k != "extensions"
        }
        assert {k: ours.extensions[k] for k in theirs.extensions} == theirs.extensions


def test_world_round_trip_is_lossless(seraphina_book: Lorebook) -> None:
    book = copy.deepcopy(seraphina_book)
    book.data["x_book"] = {"kept": True}
    book.data["entries"][1]["x_entry"] = ["kept"]
    book.data["entries"][1]["name"] = "Named"
    book.data["entries"][1]["priority"] = 3
    world = json.loads(json.dumps(book.to_world()))
    assert Lorebook.from_world(world, name="whatever") == book


def test_edited_world_entry_wins_and_keeps_unknown_keys(seraphina_book: Lorebook) -> None:
    book = copy.deepcopy(seraphina_book)
    book.data["entries"][2]["x_entry"] = "kept"
    world = book.to_world()
    world["entries"]["2"]["content"] = "Edited in the World Info editor."
    world["entries"]["2"]["disable"] = True
    world["entries"]["2"]["position"] = 4
    back = Lorebook.from_world(world, name="Eldoria")
    entry = back.entries[2]
    assert entry.content == "Edited in the World Info editor."
    assert entry.enabled is False
    assert entry.position == "after_char"
    assert entry.extensions["position"] == 4
    assert entry.data["x_entry"] == "kept"
    assert back.entries[0] == book.entries[0]  # untouched entries come back as they were


def test_book_without_ids_gets_generated_uids() -> None:
    book = Lorebook.from_dict(
        {
            "entries": [
                {"keys": ["a"], "content": "A", "enabled": True, "insertion_order": 1},
                {
                    "id": 0,
                    "keys": ["b"],
                    "content": "B",
                    "enabled": False,
                    "insertion_order": 2,
                    "position": "after_char",
                    "constant": True,
                    "comment": "bee",
                },
            ]
        }
    )
    world = book.to_world()
    assert list(world["entries"]) == ["1", "0"]
    first, second = world["entries"]["1"], world["entries"]["0"]
    assert (first["uid"], first["position"], first["disable"], first["addMemo"]) == (
        1,
        1,
        False,
        False,
    )
    assert (second["position"], second["disable"], second["constant"], second["addMemo"]) == (
        1,
        True,
        True,
        True,
    )


def test_plain_world_to_book_uses_st_reverse_mapping() -> None:
    world = {
        "entries": {
            "10": {
                "uid": 10,
                "key": ["x"],
                "keysecondary": [],
                "comment": "c",
                "content": "X",
                "constant": True,
                "selective": True,
                "order": 50,
                "position": 0,
                "disable": False,
                "role": None,
                "useGroupScoring": None,
            },
            "2": {
                "uid": 2,
                "key": ["y"],
                "content": "Y",
                "order": 5,
                "position": 1,
                "disable": True,
            },
        }
    }
    book = Lorebook.from_world(world, name="Mine")
    assert book.name == "Mine"
    assert [e.id for e in book.entries] == [2, 10]  # JS object order: integer keys ascending
    ten = book.entries[1]
    assert (ten.keys, ten.constant, ten.insertion_order, ten.position, ten.enabled) == (
        ["x"],
        True,
        50,
        "before_char",
        True,
    )
    assert ten.use_regex is True
    assert ten.extensions["role"] == 0 and ten.extensions["use_group_scoring"] is False
    assert ten.extensions["depth"] == 4 and ten.extensions["triggers"] == []


def test_lore_entry_defaults() -> None:
    entry = Lorebook.from_dict({"entries": [{}]}).entries[0]
    assert (
        entry.keys,
        entry.content,
        entry.enabled,
        entry.constant,
        entry.insertion_order,
        entry.position,
        entry.case_sensitive,
        entry.id,
    ) == ([], "", True, False, 100, "before_char", None, None)


def test_standalone_lorebook_v3_file(tmp_path: Path, seraphina_book: Lorebook) -> None:
    path = tmp_path / "book.json"
    path.write_text(json.dumps({"spec": "lorebook_v3", "data": seraphina_book.data}))
    world = read_world_file(path)
    assert isinstance(world, WorldInfo)
    assert world.name == "book"
    assert world.to_lorebook() == seraphina_book


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b'{"entries": ', "invalid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[]", "must be a JSON object"),
        (b'{"entries": 3}', "entries must be an object keyed by uid"),
        (b'{"entries": {"0": {"key": "word"}}}', "entries['0'].key must be a list of strings"),
        (b'{"entries": {"0": {"content": 5}}}', "entries['0'].content must be a string"),
        (b'{"entries": {"0": {"uid": [1]}}}', "uid must be a number or a string"),
        (b'{"entries": {}, "originalData": {"entries": 1}}', "originalData: entries must be"),
        (b'{"spec": "lorebook_v3", "data": {"entries": [{"keys": 1}]}}', "keys must be a list"),
    ],
)
def test_bad_world_files(tmp_path: Path, content: bytes, phrase: str) -> None:
    path = tmp_path / "broken_world.json"
    path.write_bytes(content)
    with pytest.raises(LorebookError) as info:
        read_world_file(path)
    message = str(info.value)
    assert "broken_world.json" in message
    assert phrase in message
    assert "\n" not in message


def test_missing_and_oversized_world_files(tmp_path: Path) -> None:
    with pytest.raises(LorebookError, match=r"^gone\.json: cannot read file"):
        read_world_file(tmp_path / "gone.json")
    big = tmp_path / "big.json"
    big.write_bytes(b"{}" * 100)
    with pytest.raises(LorebookError, match=r"^big\.json: file is 200 bytes"):
        read_world_file(big, max_bytes=100)
