"""Hostile files through the one import path (issue 19): refused in one line, nothing stored.

What the probe of issue 19 found holding is kept here so it stays that way: CHARX path
traversal and ZIP bombs are refused, YAML object tags do nothing, deeply nested JSON is
one line naming the file, and markup, Jinja and macro payloads in a card come out as
text (rendered through the same sanitizer the chat pane uses).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.chat.imports import ImportResult
from app.context import AppContext, build_context
from app.settings import Settings
from app.ui.render import MarkdownRenderer

CARD = {"spec": "chara_card_v3", "spec_version": "3.0", "data": {"name": "Zed", "first_mes": "Hi"}}


@pytest.fixture
def context(tmp_path: Path) -> Iterator[AppContext]:
    built = build_context(Settings.load(data_dir=tmp_path / "home"), load_model=False)
    yield built
    built.close()


def _charx(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, blob in files.items():
            archive.writestr(member, blob)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return path


def _import(context: AppContext, path: Path) -> ImportResult:
    return context.services.importer.import_file(path)


def _characters(context: AppContext) -> set[str]:
    return {c.name for c in context.chat.characters()}


@pytest.mark.parametrize(
    ("member", "phrase"),
    [("../evil.txt", "unsafe"), ("/etc/evil", "unsafe"), ("assets/x.bin", "ZIP bomb")],
)
def test_hostile_charx_files_store_nothing(
    context: AppContext, tmp_path: Path, member: str, phrase: str
) -> None:
    before = _characters(context)
    blob = b"\0" * (20 * 1024 * 1024) if phrase == "ZIP bomb" else b"x"
    path = _charx(tmp_path, "hostile.charx", {"card.json": json.dumps(CARD).encode(),
                                              member: blob})  # fmt: skip
    result = _import(context, path)
    assert not result.ok and result.error is not None
    assert "hostile.charx" in result.error and phrase.lower() in result.error.lower()
    assert "\n" not in result.line()
    assert _characters(context) == before
    assert not (tmp_path.parent / "evil.txt").exists()


def test_yaml_object_tags_do_nothing(context: AppContext, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"!!python/object/apply:os.system ['touch {marker}']"
    card = tmp_path / "card.yaml"
    card.write_text(f"name: {payload}\nfirst_mes: hi\n")
    preset = tmp_path / "presets-evil.yaml"
    preset.write_text(f"name: Evil\ntemperature: {payload}\n")
    for path in (card, preset):
        result = _import(context, path)
        assert not result.ok and "\n" not in result.line()
    assert not marker.exists()


def test_deeply_nested_json_is_one_line_naming_the_file(
    context: AppContext, tmp_path: Path
) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 50_000 + "]" * 50_000)
    result = _import(context, path)
    assert result.error is not None and "deep.json" in result.error
    assert "nested too deeply" in result.error and "\n" not in result.line()


def test_markup_jinja_and_macro_payloads_come_out_as_text(
    context: AppContext, tmp_path: Path
) -> None:
    payload = (
        '<script>alert(1)</script><img src=x onerror="alert(2)"> {{7*7}} {% raw %}x{% endraw %}'
        " {{ ''.__class__.__mro__ }} [link](javascript:alert(3))"
    )
    card = {**CARD, "data": {**CARD["data"], "name": "Payload", "first_mes": payload,  # type: ignore[dict-item]
                             "description": payload}}  # fmt: skip
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(card))
    assert _import(context, path).ok
    character = context.library.find("Payload")
    chat = context.chat.new_chat(character.id)
    greeting = context.chat.view(chat.id).messages[0].message.content
    assert greeting == payload  # stored as written
    shown = MarkdownRenderer().render(greeting).lower()
    for forbidden in ("<script", "onerror", 'href="javascript:', 'src="x"'):
        assert forbidden not in shown
    assert "{{7*7}}" in shown and "__class__" in shown  # printed, never evaluated
