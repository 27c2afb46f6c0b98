"""Recall with the real embedder: planted facts come back once they left the context.

A 600-message chat on SmolLM2 with a 2,048-token context holds five facts in its first
70 messages; a question about each must bring its fact into the prompt (for at least 4
of 5), and no prompt may exceed the context.  Replies are not generated: the prompts are
what recall changes.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from app.chat.memory.index import HELD_CHATS
from app.chat.memory.recall import MemoryRecall
from app.context import AppContext
from app.engine.embedder import EmbedProgress
from app.engine.llamacpp import LoadOptions
from app.prompt.sandbox import TemplateSandbox
from app.storage.memory_types import MemorySettings
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Role

pytestmark = pytest.mark.model

CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Bram",
        "description": "Bram is a talkative innkeeper in a harbour town.",
        "first_mes": "Welcome to the Gull and Anchor! What can I get you?",
    },
}

#: (message index, fact, question, what the prompt must then hold)
FACTS = (
    (5, "My sister Marguerite lives in Lisbon and breeds greyhounds.",
     "Remind me, which city does my sister Marguerite live in?", "Lisbon"),
    (19, "I hid the key to the wine cellar under the blue flowerpot by the door.",
     "Where did I hide the key to the wine cellar?", "blue flowerpot"),
    (33, "My favourite dish in the whole world is mushroom risotto with saffron.",
     "What did I say my favourite dish was?", "risotto"),
    (48, "The captain of the Silver Heron is called Orlov and he has a wooden leg.",
     "What was the name of the captain of the Silver Heron?", "Orlov"),
    (64, "I was born in 1987 in a tiny mountain village called Kettlewell.",
     "In which village was I born?", "Kettlewell"),
)  # fmt: skip

_TOPICS = (
    "the weather over the harbour", "the price of fish at the market", "a song the sailors sang",
    "the new lamps on the pier", "a card game from last night", "the baker's burnt bread",
    "gulls stealing from the nets", "the tide tables", "a quarrel between two merchants",
    "the painted sign above the door", "rumours about smugglers", "the festival next month",
)  # fmt: skip


def filler(rng: random.Random, is_user: bool) -> str:
    """Small talk about harbour life (no fact's words in it)."""
    topic = rng.choice(_TOPICS)
    if is_user:
        return f"Tell me more about {topic}. I heard something odd about it this morning."
    return (
        f"Ah, {topic}! Folk here talk of little else. Some say it started years ago, others "
        f"swear it was only last week. Pour yourself another cup and I'll tell you all of it."
    )


def long_chat(context: AppContext, n_messages: int = 600) -> int:
    """A stored chat of ``n_messages`` alternating messages with FACTS planted in it."""
    card = context.library.import_card(json.dumps(CARD).encode(), source_name="bram.json")
    chat = context.chat.new_chat(card.id)
    chats = context.stores.chats
    parent = chats.active_path(chat.id)[-1].id
    planted = {index: fact for index, fact, _, _ in FACTS}
    rng = random.Random(7)
    for i in range(1, n_messages):
        is_user = i % 2 == 1
        text = planted.get(i) or filler(rng, is_user)
        role, speaker = (Role.USER, "User") if is_user else (Role.ASSISTANT, "Bram")
        parent = chats.add_message(chat.id, parent, role=role, speaker=speaker, content=text).id
    return chat.id


def test_planted_facts_are_recalled_into_a_2048_token_context(
    context: AppContext, smollm_path: Path
) -> None:
    context.models.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    chat_id = long_chat(context)
    memory = context.services.memory
    found = []
    for _, _, question, answer in FACTS:
        prompt = context.chat.prompt(chat_id, extra_user_message=question)
        assert prompt.n_tokens < 2048
        assert "Past events" in prompt.text  # the memories block is in the prompt
        found.append(answer in prompt.text)
    assert sum(found) >= 4, found
    overview = memory.overview(chat_id)
    assert overview.messages == 600 and overview.chunks >= 600
    # The control: with the chat's memory off, no fact is in any prompt.
    memory.save_settings(chat_id, MemorySettings(enabled=False))
    for _, _, question, answer in FACTS:
        assert answer not in context.chat.prompt(chat_id, extra_user_message=question).text


def test_a_turns_new_messages_are_embedded_on_a_thread_of_their_own(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a turn's prompt is built, its new message is embedded beside it."""
    chat_id = long_chat(context, 40)
    path = context.stores.chats.active_path(chat_id)
    index = context.services.memory.index_of()
    recall = MemoryRecall(index, MemoryRepository(context.db), TemplateSandbox())
    embedded_on: list[str] = []
    embed = index.embedder.embed

    def spy(texts: Sequence[str], progress: EmbedProgress | None = None) -> NDArray[np.float32]:
        embedded_on.append(threading.current_thread().name)
        return embed(texts, progress)

    monkeypatch.setattr(index.embedder, "embed", spy)
    recall.index_early(chat_id, path).join(120)
    assert not index.missing(chat_id, path)
    assert embedded_on and set(embedded_on) == {"parlor-recall-index"}
    assert index.update(chat_id, path) == 0  # the turn's recall finds it done


def test_embedding_a_chat_reports_progress_from_the_start_and_batch_by_batch(
    context: AppContext,
) -> None:
    """A bar appears before the first batch (the model may be loading) and moves as
    batches are done, not only once every message is."""
    chat_id = long_chat(context, 120)  # one chunk a message, ~4 batches
    reports: list[tuple[int, int]] = []
    count = context.services.memory.rebuild(chat_id, lambda done, of: reports.append((done, of)))
    assert count == 120
    assert reports[0] == (0, 120) and reports[-1] == (120, 120)
    dones = [done for done, _ in reports]
    assert dones == sorted(dones)
    assert len({d for d in dones if 0 < d < 120}) >= 3, reports


def test_a_copy_of_a_message_still_in_the_prompt_is_never_recalled(
    context: AppContext,
) -> None:
    """The filler repeats: the newest message has word-for-word twins far back, which
    would be the best matches and tell the model nothing."""
    chat_id = long_chat(context, 80)
    path = context.stores.chats.active_path(chat_id)
    newest = path[-1]
    assert any(m.content == newest.content for m in path[:-10])  # twins exist
    index = context.services.memory.index_of()
    index.update(chat_id, path)
    query = index.query_vectors(chat_id, path[-2:][::-1])
    hits = index.search(chat_id, query, [m.id for m in path[:-10]], limit=5, threshold=0.25)
    assert hits and all(h.score < 0.95 for h in hits)
    recalled = {h.message_id for h in hits}
    assert not any(
        m.content in (newest.content, path[-2].content) for m in path if m.id in recalled
    )


def test_only_the_recently_used_chats_vectors_are_held(context: AppContext) -> None:
    """A server used across many chats holds the vectors of the last few; a chat dropped
    is read again from SQLite, with the same results."""
    index = context.services.memory.index_of()
    chats = [long_chat(context, 6) for _ in range(HELD_CHATS + 2)]
    paths = {chat_id: context.stores.chats.active_path(chat_id) for chat_id in chats}
    first = chats[0]
    index.update(first, paths[first])
    query = index.query_vectors(first, paths[first][-1:])
    eligible = [m.id for m in paths[first]]
    before = index.search(first, query, eligible, limit=3, threshold=0.0)
    assert len(before) == 3
    for chat_id in chats[1:]:
        index.update(chat_id, paths[chat_id])
    assert len(index._chats) == HELD_CHATS  # (the held matrices, by chat)
    assert first not in index._chats
    assert index.search(first, query, eligible, limit=3, threshold=0.0) == before
