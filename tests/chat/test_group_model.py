"""Group chats on the real SmolLM2: greetings, a list-strategy round, the swap prompt of
each speaker, and the KV cache kept per member, in groups of three and of five (more
members than the backend's default saved states; evaluated-token counts, never times)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.chat.groups import MemberReply
from app.context import AppContext
from app.engine.base import GenerationRequest
from app.storage.group_types import GroupSettings, ReplyStrategy
from app.storage.types import ChatSettings, Role
from tests.api.live import RecordingBackend
from tests.chat.conftest import write_preset

pytestmark = pytest.mark.model

LORE = (
    "{name} lives in the harbour town of Veyle, where the fog comes in at dusk and the "
    "bells of the old abbey ring the hours. {name} knows every alley, every tavern and "
    "every boat that ties up at the long stone quay, and remembers the names of the "
    "sailors who never came back from the northern banks. "
)


def card(name: str, trait: str) -> bytes:
    """A card whose description is long enough that its prompt is worth keeping cached."""
    description = f"{name} is {trait}. " + LORE.format(name=name) * 5
    data = {"name": name, "description": description, "first_mes": f"{name} waves at {{{{user}}}}."}
    return json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}).encode()


TRIO = (("Ann", "a baker"), ("Bob", "a fisherman"), ("Cid", "a bell-ringer"))


def make_group(
    context: AppContext, home: Path, members: Sequence[tuple[str, str]] = TRIO
) -> tuple[int, list[int]]:
    """A list-strategy group (of three) and a new chat of it, replies short and greedy."""
    write_preset(home, "Short", max_new_tokens=6, temperature=0.0, ban_eos=True)
    ids = [
        context.library.import_card(card(name, trait), source_name=f"{name}.json").id
        for name, trait in members
    ]
    groups = context.services.groups
    group = groups.create("Veyle", ids, GroupSettings(strategy=ReplyStrategy.LIST))
    chat = groups.new_chat(group.id)
    context.stores.chats.update_settings(chat.id, ChatSettings(preset="Short"))
    return chat.id, ids


def finished(replies: Sequence[MemberReply]) -> list[MemberReply]:
    """The last update of each member's reply."""
    return [r for r in replies if r.progress.done]


def replies(backend: RecordingBackend) -> list[GenerationRequest]:
    """The replies' requests (not the idle prefills of the members' slots)."""
    return [r for r in backend.requests if not r.background]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_a_list_group_replies_in_order_each_with_its_own_card_and_stop_strings(
    context: AppContext, recorded: RecordingBackend, _isolated_home: Path
) -> None:
    backend = recorded
    chat_id, _ids = make_group(context, _isolated_home)
    path = context.stores.chats.active_path(chat_id)
    assert [(m.speaker, m.content) for m in path] == [
        ("Ann", "Ann waves at User."),
        ("Bob", "Bob waves at User."),
        ("Cid", "Cid waves at User."),
    ]

    done = finished(list(context.services.groups.send(chat_id, "Good evening, all of you.")))

    assert [r.name for r in done] == ["Ann", "Bob", "Cid"]
    messages = context.stores.chats.active_path(chat_id)[3:]
    assert [(m.role, m.speaker) for m in messages] == [
        (Role.USER, "User"), (Role.ASSISTANT, "Ann"), (Role.ASSISTANT, "Bob"),
        (Role.ASSISTANT, "Cid"),
    ]  # fmt: skip
    assert all(m.content.strip() for m in messages)
    for request, name, other in zip(
        replies(backend), ("Ann", "Bob", "Cid"), ("Bob", "Cid", "Ann"), strict=True
    ):
        assert request.prompt_text is not None
        assert f"{name} is a" in request.prompt_text  # swap: the speaker's card …
        assert f"{other} is a" not in request.prompt_text  # … and no other's
        assert f"\n{other}:" in request.stop and f"\n{name}:" not in request.stop
    # The speaker's earlier turn stays in the others' prompts, under its name.
    assert "Ann waves at User." in (replies(backend)[2].prompt_text or "")


#: Five members: more than the backend's default three saved states, so the group's
#: member count decides how many it keeps.
FIVE = (*TRIO, ("Dee", "a weaver"), ("Eve", "a ferrywoman"))


@pytest.mark.parametrize("members", [TRIO, FIVE], ids=["three", "five"])
def test_each_member_turn_evaluates_only_what_is_new_since_its_last_turn(
    context: AppContext,
    recorded: RecordingBackend,
    _isolated_home: Path,
    members: Sequence[tuple[str, str]],
) -> None:
    chat_id, _ids = make_group(context, _isolated_home, members)
    groups = context.services.groups
    first = finished(list(groups.send(chat_id, "Good evening, all of you.")))
    second = finished(list(groups.send(chat_id, "What news from the quay?")))

    n = len(members)
    assert [r.name for r in second] == [name for name, _ in members]
    requests = replies(recorded)
    for turn, (before, after) in enumerate(zip(requests[:n], requests[n:], strict=True)):
        info = second[turn].progress.gen_info
        assert info is not None and info.prompt_tokens == len(after.prompt_tokens)
        new = len(after.prompt_tokens) - common_prefix(before.prompt_tokens, after.prompt_tokens)
        # A speaker change evaluates only this member's new tokens, not its whole prompt.
        assert info.tokens_evaluated <= new, (turn, info, new)
        assert info.tokens_evaluated < info.prompt_tokens // 4
    assert all(r.progress.gen_info is not None for r in first)
