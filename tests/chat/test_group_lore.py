"""A group's own lorebooks and the group chat's author's note: both in every member's
prompt on the real SmolLM2 (beside the speaker's own book), and the group's books kept
through a SillyTavern export and import (``parlor_lorebooks``, which SillyTavern ignores)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.chat.group_lore import group_books
from app.context import AppContext
from app.errors import NotFound
from app.storage.group_types import GroupSettings
from app.storage.types import AuthorNoteSettings
from tests.api.live import RecordingBackend
from tests.chat.st_group_files import GROUP, st_group_folder
from tests.chat.test_group_model import finished, make_group, replies
from tests.paths import SILLYTAVERN

GROUP_LORE = "The quay of Veyle flooded last night."
ANN_LORE = "Ann hid the abbey key under a loaf."
NOTE = "Everyone is soaked by the rain."


def entry(uid: int, key: str, content: str, *, constant: bool = False) -> dict[str, object]:
    """A World Info entry as SillyTavern's world files hold it (before the card)."""
    return {
        "uid": uid, "key": [key], "content": content, "position": 0, "order": 100,
        "constant": constant,
    }  # fmt: skip


@pytest.mark.model
def test_group_books_and_the_chats_note_reach_every_members_prompt(
    context: AppContext,
    recorded: RecordingBackend,
    _isolated_home: Path,
) -> None:
    chat_id, (ann, bob, _cid) = make_group(context, _isolated_home)
    books = context.stores.lorebooks
    # Constant: Cid's scan (the last two messages, Ann's and Bob's replies) has no "quay".
    shared = books.create("Veyle lore", entries=[entry(0, "quay", GROUP_LORE, constant=True)])
    books.create("Ann's lore", entries=[entry(0, "quay", ANN_LORE)], character_id=ann)
    groups = context.services.groups
    group = groups.group_of(chat_id)
    assert group is not None
    groups.update(group.id, settings=replace(group.settings, lorebook_ids=(shared.id,)))
    settings = context.chat.chat(chat_id).settings
    note = AuthorNoteSettings(text=NOTE, depth=1)
    context.chat.save_settings(chat_id, replace(settings, author_note=note), persona_id=None)

    done = finished(list(groups.send(chat_id, "Is the quay safe tonight?")))

    assert [r.name for r in done] == ["Ann", "Bob", "Cid"]
    prompts = [r.prompt_text or "" for r in replies(recorded)]
    assert all(GROUP_LORE in p and NOTE in p for p in prompts)  # every member's turn
    assert [ANN_LORE in p for p in prompts] == [True, False, False]  # Ann's own book
    ann_prompt = prompts[0]
    assert ann_prompt.index(GROUP_LORE) < ann_prompt.index("Ann is a baker")  # before the card
    assert ann_prompt.rsplit("Is the quay safe tonight?", 1)[0].count(NOTE) == 1  # depth 1
    # The speaker's book, also picked as a group book, is scanned once.
    own = books.for_character(ann)
    assert own is not None
    group = groups.group(group.id)
    groups.update(group.id, settings=replace(group.settings, lorebook_ids=(shared.id, own.id)))
    assert context.chat.prompt(chat_id, speaker="Ann").text.count(ANN_LORE) == 1
    assert ANN_LORE in context.chat.prompt(chat_id, speaker="Bob").text
    assert bob in groups.group(group.id).member_ids


def test_a_group_keeps_its_books_through_a_sillytavern_export_and_import(
    context: AppContext, tmp_path: Path
) -> None:
    folder = st_group_folder(tmp_path / "SillyTavern", SILLYTAVERN)
    importer = context.services.importer
    assert all(importer.import_file(p).ok for p in importer.files([folder]))
    book = context.stores.lorebooks.create("Harbour lore", entries=[entry(0, "quay", GROUP_LORE)])
    groups = context.services.groups
    group = groups.find("Harbour")
    with pytest.raises(NotFound):
        groups.update(group.id, settings=replace(group.settings, lorebook_ids=(book.id + 99,)))
    groups.update(group.id, settings=replace(group.settings, lorebook_ids=(book.id,)))

    written = groups.export(group.id, tmp_path / "out")
    data = json.loads(written[0].read_text("utf-8"))
    assert data["parlor_lorebooks"] == ["Harbour lore"]
    assert {k: v for k, v in data.items() if k != "parlor_lorebooks"} == GROUP

    groups.delete(group.id)
    result = importer.import_file(written[0])
    assert result.ok, result.line()
    assert groups.find("Harbour").settings.lorebook_ids == (book.id,)
    context.stores.lorebooks.delete(book.id)  # a deleted book drops out of the group
    assert group_books(context.stores.lorebooks, groups.find("Harbour")) == []
    data["parlor_lorebooks"] = ["Gone"]
    written[0].write_text(json.dumps(data), "utf-8")
    # A group stored before groups had lorebooks has none.
    assert GroupSettings.from_json({"strategy": 1}).lorebook_ids == ()
    failed = importer.import_file(written[0])
    assert not failed.ok and "parlor_lorebooks" in failed.line()
    assert "no lorebook called 'Gone'" in failed.line()
