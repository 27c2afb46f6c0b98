"""A SillyTavern chat's author's note: imported into the prompt, exported back unchanged
or with the user's edit written into ``chat_metadata``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from app.context import AppContext
from app.engine.fake import FakeBackend
from app.storage.repositories import ChatRepository
from tests.chat.st_files import MIRELLE_CHAT, NOTE

#: Mirelle's chat, attached to the starter cast's HESPER (whose name the header carries).
CHAT = [{**MIRELLE_CHAT[0], "character_name": "HESPER"}, *MIRELLE_CHAT[1:]]


def _write_chat(folder: Path) -> Path:
    path = folder / "HESPER - 2025-12-01@10h00m00s.jsonl"
    path.write_text("\n".join(json.dumps(line, separators=(",", ":")) for line in CHAT), "utf-8")
    return path


def _import(context: AppContext, path: Path) -> int:
    result = context.services.importer.import_file(path)
    assert result.ok and result.kind == "chat", result.line()
    (chat,) = [c for c in ChatRepository(context.db).list_chats() if c.title == result.name]
    return chat.id


def test_the_note_reaches_the_prompt_and_the_chat_keeps_its_date(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    chat_id = _import(context, _write_chat(tmp_path))
    chat = context.chat.chat(chat_id)
    assert chat.settings.author_note.text == NOTE and chat.settings.author_note.depth == 1
    assert chat.created_at == datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
    assert chat.updated_at == datetime(2025, 12, 1, 10, 1, 2, tzinfo=UTC)
    prompt = context.chat.prompt(chat_id).text
    before_last = prompt.rsplit("Can you read it?", 1)[0]
    assert NOTE in before_last and NOTE not in prompt.rsplit("Can you read it?", 1)[1]


def test_an_unchanged_chat_exports_byte_for_byte(context: AppContext, tmp_path: Path) -> None:
    source = _write_chat(tmp_path)
    chat_id = _import(context, source)
    exported = context.chat_files.export_chat(chat_id, tmp_path / "out")
    assert exported.read_bytes() == source.read_bytes()


def test_an_edited_note_is_written_back(context: AppContext, tmp_path: Path) -> None:
    chat_id = _import(context, _write_chat(tmp_path))
    settings = context.chat.chat(chat_id).settings
    note = replace(settings.author_note, text="Mirelle is lying about the mill.", depth=3)
    context.chat.save_settings(chat_id, replace(settings, author_note=note), persona_id=None)
    exported = context.chat_files.export_chat(chat_id, tmp_path / "out")
    header = json.loads(exported.read_text("utf-8").split("\n", 1)[0])
    metadata = header["chat_metadata"]
    assert metadata["note_prompt"] == "Mirelle is lying about the mill."
    assert (metadata["note_depth"], metadata["note_position"], metadata["note_role"]) == (3, 1, 0)
    assert metadata["integrity"] == CHAT[0]["chat_metadata"]["integrity"]
    assert metadata["lastInContextMessageId"] == 0
