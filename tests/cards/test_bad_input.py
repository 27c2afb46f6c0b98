"""Every bad input gives a one-line CardError that names the file."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest

from app.cards import png
from app.cards.read import ReadLimits, read_card
from app.errors import CardError

CARD_JSON = json.dumps(
    {"spec": "chara_card_v3", "spec_version": "3.0", "data": {"name": "Z"}}
).encode()


def _zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, blob in files.items():
            archive.writestr(name, blob)
    return buffer.getvalue()


def _error(data: bytes, name: str, limits: ReadLimits | None = None) -> str:
    with pytest.raises(CardError) as info:
        read_card(data, source_name=name, limits=limits)
    message = str(info.value)
    assert name in message
    assert "\n" not in message
    return message


def _png_with(base: bytes, keyword: str, text: bytes) -> bytes:
    return png.rebuild(png.parse_chunks(base, "b"), [png.make_text_chunk(keyword, text)])


def test_file_over_the_size_cap(tmp_path: Path) -> None:
    big = tmp_path / "huge_card.png"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    with pytest.raises(CardError) as info:
        read_card(big)
    assert str(info.value) == "huge_card.png: file is 50.0 MB, more than the 32 MB allowed"


def test_bytes_over_the_size_cap() -> None:
    message = _error(b"{" + b" " * 2000, "big.json", ReadLimits(max_bytes=1000))
    assert "more than" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r"^nothing\.png: file not found$"):
        read_card(tmp_path / "nothing.png")


def test_zip_bomb_ratio() -> None:
    bomb = _zip({"card.json": CARD_JSON, "assets/x.bin": b"\0" * (20 * 1024 * 1024)})
    assert "possible ZIP bomb" in _error(bomb, "bomb.charx")


def test_zip_total_uncompressed_size() -> None:
    files = {"card.json": CARD_JSON, "a.bin": b"\0" * 3000, "b.bin": b"\0" * 3000}
    limits = ReadLimits(max_unpacked_bytes=5000)
    assert "unpacks to" in _error(_zip(files), "big.charx", limits)


def test_zip_entry_count() -> None:
    files = {"card.json": CARD_JSON, **{f"f{i}.txt": b"x" for i in range(20)}}
    assert "21 files" in _error(_zip(files), "many.charx", ReadLimits(max_entries=10))


@pytest.mark.parametrize(
    "member", ["../evil.png", "assets/../../evil.png", "/etc/passwd", "C:/windows/evil.png"]
)
def test_unsafe_member_names(member: str) -> None:
    message = _error(_zip({"card.json": CARD_JSON, member: b"x"}), "evil.charx")
    assert "unsafe file name" in message


@pytest.mark.parametrize("uri", ["embeded://../outside.png", "embeded:///abs/icon.png"])
def test_unsafe_asset_uris(uri: str) -> None:
    card = {
        "spec": "chara_card_v3",
        "data": {
            "name": "Z",
            "assets": [{"type": "icon", "uri": uri, "name": "main", "ext": "png"}],
        },
    }
    message = _error(_zip({"card.json": json.dumps(card).encode()}), "uri.charx")
    assert "unsafe uri" in message


def test_encrypted_member() -> None:
    archive = bytearray(_zip({"card.json": CARD_JSON, "secret.bin": b"x"}))
    central = archive.rfind(b"PK\x01\x02")  # central directory record of secret.bin
    archive[central + 8] |= 0x1  # general purpose flag bit 0: encrypted
    assert "encrypted" in _error(bytes(archive), "locked.charx")


def test_charx_without_card_json() -> None:
    assert "no card.json" in _error(_zip({"readme.txt": b"hi"}), "empty.charx")


def test_charx_card_json_without_spec() -> None:
    archive = _zip({"card.json": b'{"data": {"name": "Z"}}'})
    assert "no spec field" in _error(archive, "nospec.charx")


def test_corrupt_zip() -> None:
    archive = bytearray(_zip({"card.json": CARD_JSON}))
    archive[40:60] = b"\xff" * 20
    _error(bytes(archive), "corrupt.charx")


def test_broken_base64(small_png: bytes) -> None:
    message = _error(_png_with(small_png, "chara", b"eyJuYW1l!!!not-base64"), "b64.png")
    assert "not valid base64" in message


def test_base64_of_invalid_json(small_png: bytes) -> None:
    bad = _png_with(small_png, "chara", base64.b64encode(b'{"name": "A",'))
    assert "invalid JSON in the 'chara' chunk" in _error(bad, "json.png")


def test_base64_of_non_utf8(small_png: bytes) -> None:
    bad = _png_with(small_png, "ccv3", base64.b64encode(b'{"name": "\xff"}'))
    assert "not UTF-8" in _error(bad, "utf.png")


def test_png_without_card_chunks(small_png: bytes) -> None:
    assert "no character data" in _error(small_png, "plain.png")


def test_truncated_png(seraphina_png: bytes) -> None:
    assert "truncated PNG" in _error(seraphina_png[:5000], "cut.png")


def test_png_signature_then_garbage() -> None:
    _error(png.PNG_SIGNATURE + b"\x00\x00\x00\x05JUNK!", "junk.png")


def test_not_a_png_at_all() -> None:
    message = _error(b"\x00\x01\x02\x03\xfe\xff binary garbage", "fake.png")
    assert "not a character card" in message


def test_jpeg_is_refused() -> None:
    assert "JPEG images cannot hold a card" in _error(b"\xff\xd8\xff\xe0junk", "photo.jpg")


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "file is empty"),
        (b'{"name": "A",', "invalid JSON"),
        (b"[1, 2]", "card JSON must be an object, got list"),
        (b'{"spec": "chara_card_v2", "data": "nope"}', "has no data object"),
        (b'{"spec": "lorebook_v3", "data": {"entries": []}}', "is a lorebook"),
        (b'{"entries": {"0": {}}}', "World Info file, not a character card"),
        (b'{"foo": 1}', "no spec, data or name"),
        (
            b'{"spec": "chara_card_v2", "data": {"name": "A", "description": ["x"]}}',
            "data.description must be a string",
        ),
        (b'{"name": "A", "first_mes": 5}', "first_mes must be a string"),
        (b'{"name": ""}', "no name"),
        (b"name: [unclosed\n", "invalid YAML"),
        (b"just some words", "expected a YAML/JSON object"),
        (b"a: &x [1]\nb: *x\n", "aliases are not allowed"),
    ],
)
def test_bad_text_cards(content: bytes, phrase: str) -> None:
    assert phrase in _error(content, "bad.card")
