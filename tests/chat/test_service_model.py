"""Regenerate, continue, impersonate and swipes through the chat service on SmolLM2.

The fake backend tests the bookkeeping (tests/chat/test_service.py); here the real model
tokenizes, generates and keeps its KV cache between turns, which is what continue relies on.
Replies are short and greedy (the "Short" preset: 8 tokens, temperature 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.chat.turns import Progress
from app.context import AppContext
from app.engine.llamacpp import LlamaCppBackend, LoadOptions
from app.storage.types import ChatSettings, GenInfo, Message, Role
from tests.chat.conftest import write_preset
from tests.chat.test_service import last, shown

pytestmark = pytest.mark.model

#: A small card without a lorebook: each prompt is the last one plus the new turn.
CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Odile",
        "description": "Odile keeps the lighthouse on a windy northern island.",
        "first_mes": '*Odile wipes salt from the lamp glass.* "You came on the mail boat?"',
    },
}


def info(progress: Progress) -> GenInfo:
    """The generation details of a finished reply."""
    assert progress.done and progress.gen_info is not None
    return progress.gen_info


def stored(progress: Progress) -> Message:
    """The message a finished reply was stored as."""
    assert progress.message is not None, f"nothing stored for {progress.text!r}"
    return progress.message


@pytest.fixture
def chat_id(context: AppContext, smollm_path: Path, _isolated_home: Path) -> int:
    """A chat with Odile on SmolLM2 and the Short preset: greeting, user message, reply."""
    write_preset(_isolated_home, "Short", max_new_tokens=8, temperature=0.0)
    backend = context.models.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    assert isinstance(backend, LlamaCppBackend)
    odile = context.library.import_card(json.dumps(CARD).encode(), source_name="odile.json")
    chat = context.chat.new_chat(odile.id)
    context.stores.chats.update_settings(chat.id, ChatSettings(preset="Short"))
    first = last(context.chat.send(chat.id, "Is the lamp lit every night?"))
    assert info(first).preset == "Short" and info(first).finish_reason == "length"
    assert stored(first).content == first.text and first.text.strip()
    return chat.id


def test_regenerate_keeps_the_old_reply_as_a_swipe_and_adds_one(
    context: AppContext, chat_id: int
) -> None:
    old = context.stores.chats.active_path(chat_id)[-1]
    done = last(context.chat.regenerate(chat_id))
    new = stored(done)
    assert new.id != old.id and new.parent_id == old.parent_id and new.role == Role.ASSISTANT
    assert new.content == done.text and done.text.strip()
    assert shown(context.chat, chat_id)[-1] == ("assistant", done.text, 1, 2)
    assert context.chat.message(old.id).content == old.content  # the old reply stays
    # Same history without the old reply: the same prompt, read from the cache.
    assert info(done).prompt_tokens == old.gen_info.prompt_tokens
    assert (info(done).tokens_reused or 0) > 0
    back = context.chat.swipe(new.id, -1).shown
    assert back is not None and (back.id, back.content) == (old.id, old.content)


def test_continue_extends_the_same_message_from_the_cache(
    context: AppContext, chat_id: int
) -> None:
    before = last(context.chat.regenerate(chat_id))
    reply = stored(before)
    count = context.stores.chats.count_messages(chat_id)
    done = last(context.chat.continue_reply(chat_id))
    assert done.text.startswith(reply.content) and len(done.text) > len(reply.content)
    assert info(done).completion_tokens == 8
    message = stored(done)
    assert message.id == reply.id  # the same message, longer; no new swipe
    assert message.content == done.text == context.chat.message(reply.id).content
    assert context.stores.chats.count_messages(chat_id) == count
    assert shown(context.chat, chat_id)[-1] == ("assistant", done.text, 1, 2)
    # The continue prompt is the last prompt plus the reply so far: the whole last prompt
    # is reused, and at most the reply's own tokens are read again.
    assert (info(done).tokens_reused or 0) >= (info(before).prompt_tokens or 0) > 0
    assert (info(done).tokens_evaluated or 0) <= (info(before).completion_tokens or 0)


def test_impersonate_stores_nothing_and_swipes_still_work(
    context: AppContext, chat_id: int
) -> None:
    first = context.stores.chats.active_path(chat_id)[-1]
    regenerated = stored(last(context.chat.regenerate(chat_id)))
    continued = stored(last(context.chat.continue_reply(chat_id)))
    path = context.stores.chats.active_path(chat_id)
    count = context.stores.chats.count_messages(chat_id)
    imp = last(context.chat.impersonate(chat_id))
    assert imp.done and imp.text.strip() and imp.message is None
    assert context.stores.chats.count_messages(chat_id) == count
    assert context.stores.chats.active_path(chat_id) == path
    # Back to the first reply, forward to the continued one, then past it: a new reply.
    back = context.chat.swipe(continued.id, -1).shown
    assert back is not None and back.id == first.id and back.content == first.content
    forward = context.chat.swipe(first.id, +1).shown
    assert forward is not None and forward.id == regenerated.id
    assert forward.content == continued.content
    replies = context.chat.swipe(continued.id, +1).replies
    assert replies is not None
    third = stored(last(replies))
    assert third.id not in (first.id, regenerated.id) and third.content.strip()
    assert shown(context.chat, chat_id)[-1] == ("assistant", third.content, 2, 3)
    assert [m.id for m in context.stores.chats.active_path(chat_id)][:-1] == [m.id for m in path][
        :-1
    ]
