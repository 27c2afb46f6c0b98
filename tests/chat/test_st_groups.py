"""SillyTavern groups and group chats: ``parlor import`` of a data folder, the prompt each
member's next turn sends (byte for byte SillyTavern's, swap and join mode, the
Llama-3-Instruct-Names headers carrying the names), ``parlor export group`` giving the
files back with nothing lost, and ``parlor list chats`` naming the group."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli import main
from app.context import AppContext
from app.engine.fake import FakeBackend
from app.storage.group_types import PromptMode, ReplyStrategy
from app.storage.types import ChatSettings, Role
from tests.chat.st_group_files import GROUP, NEW_CHAT, OLD_CHAT, st_group_folder
from tests.paths import SILLYTAVERN

H = "<|start_header_id|>{}<|end_header_id|>\n\n"
E = "<|eot_id|>"
SYSTEM = "Write Bob's next reply in a fictional chat between Bob and User.\n"
#: The history SillyTavern sends for Bob's next turn in the 1.12 chat: the "Group chat
#: created" system message left out, Bob's note (depth 2, a system message: with
#: ``system_same_as_user`` the header names the speaker), every turn under its name.
HISTORY = (
    f"{H.format('Ann')}Ann nods to User.{E}{H.format('Bob')}Bob nods to User.{E}"
    f"{H.format('Bob')}Bob hides a letter.{E}"
    f"{H.format('User')}Any news from the quay?{E}{H.format('Ann')}The boats are late.{E}"
    f"{H.format('Bob')}"
)
#: Swap mode: Bob's own card only.
EXPECTED_SWAP = f"{H.format('system')}{SYSTEM}Bob mends nets.\ngruff{E}{HISTORY}"
#: Join mode: the unmuted members' fields, each behind the join prefix (no separator:
#: the template does not wrap), ``{{group}}`` naming every member.
EXPECTED_JOIN = (
    f"{H.format('system')}{SYSTEM}"
    "[Description of Ann]Ann bakes bread for Ann, Bob, Cid.\n"
    "[Description of Bob]Bob mends nets.\n"
    f"[Personality of Ann]warm\n[Personality of Bob]gruff{E}{HISTORY}"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return st_group_folder(tmp_path / "SillyTavern", SILLYTAVERN)


def imported(context: AppContext, folder: Path) -> int:
    """Import the folder; the 1.12 chat's id, set to the folder's template."""
    importer = context.services.importer
    results = [importer.import_file(path) for path in importer.files([folder])]
    assert [r.line() for r in results if not r.ok] == []
    assert sorted(r.kind or "" for r in results if r.kind in ("group", "group chat")) == [
        "group", "group chat", "group chat",
    ]  # fmt: skip
    chat = context.chat.find_chat(OLD_CHAT)
    context.stores.chats.update_settings(chat.id, ChatSettings(format="Llama-3-Instruct-Names"))
    return chat.id


def test_the_group_comes_in_with_its_members_muting_strategy_and_chats(
    context: AppContext, folder: Path
) -> None:
    chat_id = imported(context, folder)
    groups = context.services.groups
    group = groups.find("Harbour")
    assert [name for _, name in groups.member_names(group)] == ["Ann", "Bob", "Cid"]
    assert [m.muted for m in group.members] == [False, False, True]
    assert group.settings.strategy == ReplyStrategy.LIST
    assert group.settings.join_prefix == "[<FIELDNAME> of {{char}}]"
    assert groups.chat_groups() == {
        chat_id: "Harbour",
        context.chat.find_chat(NEW_CHAT).id: "Harbour",
    }
    path = context.stores.chats.active_path(chat_id)
    assert path[0].role == Role.SYSTEM and path[0].content.startswith("Group chat created")
    assert [m.speaker for m in path[1:]] == ["Ann", "Bob", "User", "Ann"]
    assert groups.next_speakers(chat_id, "Hello?") == list(group.unmuted_ids)


def test_each_speaker_gets_the_prompt_sillytavern_sends_in_swap_and_join_mode(
    context: AppContext, fake: FakeBackend, folder: Path
) -> None:
    chat_id = imported(context, folder)
    swap = context.chat.prompt(chat_id, speaker="Bob")
    assert swap.text == EXPECTED_SWAP
    assert swap.stop[:3] == ("\nUser:", "\nAnn:", "\nCid:")  # nobody writes another's turn
    groups = context.services.groups
    group = groups.find("Harbour")
    groups.update(group.id, settings=replace(group.settings, mode=PromptMode.JOIN))
    assert context.chat.prompt(chat_id, speaker="bob").text == EXPECTED_JOIN
    ann = context.chat.prompt(chat_id, speaker="Ann").text
    assert ann.endswith(f"The boats are late.{E}{H.format('Ann')}")
    assert "Bob hides a letter." in ann  # join mode: every member's note


def test_export_gives_the_files_back_with_nothing_lost(
    context: AppContext, folder: Path, tmp_path: Path
) -> None:
    imported(context, folder)
    groups = context.services.groups
    out = tmp_path / "out"
    written = groups.export(groups.find("Harbour").id, out)
    assert {p.relative_to(out).as_posix() for p in written} == {
        f"groups/{GROUP['id']}.json", f"group chats/{OLD_CHAT}.jsonl",
        f"group chats/{NEW_CHAT}.jsonl",
    }  # fmt: skip
    for stem in (OLD_CHAT, NEW_CHAT):  # messages-only and with a header: byte for byte
        name = f"group chats/{stem}.jsonl"
        assert (out / name).read_bytes() == (folder / name).read_bytes()
    assert json.loads((out / "groups" / f"{GROUP['id']}.json").read_text()) == GROUP

    group = groups.find("Harbour")
    groups.mute(group.id, group.member_ids[1], True)
    groups.export(group.id, out)
    again = json.loads((out / "groups" / f"{GROUP['id']}.json").read_text())
    assert again["disabled_members"] == ["Bob.png", "Cid.png"]
    assert {k: v for k, v in again.items() if k != "disabled_members"} == {
        k: v for k, v in GROUP.items() if k != "disabled_members"
    }


def test_the_commands_list_export_and_prompt_a_group_chat(
    capsys: pytest.CaptureFixture[str], folder: Path, tmp_path: Path
) -> None:
    assert main(["import", str(folder)]) == 0
    capsys.readouterr()
    assert main(["list", "chats"]) == 0
    listed = capsys.readouterr().out
    assert f"{OLD_CHAT}\tgroup Harbour: Ann, Bob, Cid" in listed
    assert main(["export", "group", "Harbour", "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "group chats" / f"{OLD_CHAT}.jsonl").is_file()
    assert main(["export", "group", "Nobody", "-o", str(tmp_path / "out")]) == 1
    assert "no group called 'Nobody'" in capsys.readouterr().err


@pytest.mark.model
def test_parlor_prompt_prints_a_members_next_turn(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    assert main(["import", str(folder)]) == 0
    capsys.readouterr()
    assert main(["prompt", "--chat", OLD_CHAT, "--speaker", "Bob", "--n-ctx", "2048"]) == 0
    out = capsys.readouterr().out
    assert "Bob mends nets." in out and "Ann bakes bread" not in out  # swap: Bob's card
    assert "The boats are late." in out and "Group chat created" not in out
    assert main(["prompt", "--chat", OLD_CHAT, "--speaker", "Nobody", "--n-ctx", "2048"]) == 1
    assert "'Nobody' is not a member of group 'Harbour'" in capsys.readouterr().err
