"""Deeply nested input: every reader raises its typed error naming the file, one line."""

from __future__ import annotations

import base64
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cards import read_card, read_world_file
from app.chat.imports import detect_kind
from app.chatfile import read_chat_file
from app.errors import (
    CardError,
    ChatFileError,
    InputError,
    LorebookError,
    PresetError,
    TemplateError,
)
from app.presets.library import load_preset_file
from app.presets.sillytavern import import_sillytavern
from app.prompt.st_import import import_st_file
from tests.chat.st_files import png_with_text

#: Far past any recursion limit, and just below CPython's default one.
DEPTHS = [50_000, 980]

Writer = Callable[[Path, int], None]


def _nested(template: str, depth: int) -> str:
    return template.replace("DEEP", "[" * depth + "]" * depth)


def _text(template: str) -> Writer:
    def write(path: Path, depth: int) -> None:
        path.write_text(_nested(template, depth), encoding="utf-8")

    return write


def _png(path: Path, depth: int) -> None:
    card = _nested(
        '{"spec": "chara_card_v2", "data": {"name": "D", "extensions": {"x": DEEP}}}', depth
    )
    path.write_bytes(png_with_text({"chara": base64.b64encode(card.encode())}))


def _charx(path: Path, depth: int) -> None:
    card = _nested(
        '{"spec": "chara_card_v3", "data": {"name": "D", "extensions": {"x": DEEP}}}', depth
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("card.json", card)


CASES: list[tuple[str, Writer, Callable[[Path], object], type[InputError]]] = [
    ("card.json", _text('{"name": "D", "first_mes": "Hi", "data": DEEP}'), read_card, CardError),
    ("card.png", _png, read_card, CardError),
    ("card.charx", _charx, read_card, CardError),
    ("world.json", _text('{"entries": {"0": {"key": DEEP}}}'), read_world_file, LorebookError),
    ("preset.json", _text('{"temp": 1, "x": DEEP}'), import_sillytavern, PresetError),
    ("preset.yaml", _text("name: p\nx: DEEP\n"), load_preset_file, PresetError),
    ("context.json", _text('{"story_string": "", "x": DEEP}'), import_st_file, TemplateError),
    (
        "chat.jsonl",
        _text('{"user_name": "U", "chat_metadata": {"x": DEEP}}\n'),
        read_chat_file,
        ChatFileError,
    ),
    ("any.json", _text('{"temp": 1, "x": DEEP}'), detect_kind, InputError),
]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize(("name", "write", "reader", "error"), CASES, ids=[c[0] for c in CASES])
def test_deep_nesting_is_a_clean_error(
    tmp_path: Path,
    name: str,
    write: Writer,
    reader: Callable[[Path], object],
    error: type[InputError],
    depth: int,
) -> None:
    path = tmp_path / name
    write(path, depth)
    try:
        reader(path)
    except error as exc:
        assert name in str(exc) and "\n" not in str(exc)
        assert depth < 1000 or "nested too deeply" in str(exc)
    else:
        assert depth < 1000  # a moderately deep file may be read; never a RecursionError
