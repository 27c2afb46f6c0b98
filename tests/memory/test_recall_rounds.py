"""Messages a new memories block pushes out of the prompt can be recalled in the same
turn (the prompt is built and recalled from twice where the block changes what fits)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from app.chat.memory.recall import first_in_prompt
from app.context import AppContext
from app.engine.llamacpp import LoadOptions
from app.storage.memory_types import MemorySettings
from app.storage.types import ChatSettings, Role
from tests.chat.conftest import write_preset
from tests.memory.test_recall import CARD, filler

pytestmark = pytest.mark.model

QUESTION = "What was the name of the captain of the Silver Heron?"
EARLY_FACTS = (
    "The Silver Heron is a three-masted ship that sails for Lisbon every spring.",
    "The Silver Heron's crew drink at the Gull and Anchor whenever their ship is in port.",
    "Last winter the Silver Heron lost her mainsail in a storm off the cape.",
)
CAPTAIN = "The captain of the Silver Heron is called Orlov and he has a wooden leg."


def heron_chat(context: AppContext, smollm_path: Path, home: Path) -> tuple[int, int]:
    """A chat on SmolLM2 (n_ctx 1024, 4-token replies) whose early messages tell of the
    Silver Heron, and the history index of the oldest message a prompt asking QUESTION
    holds without memory, which now names the ship's captain."""
    context.models.load(smollm_path, LoadOptions(n_ctx=1024, threads=2))
    write_preset(home, "Short", max_new_tokens=4, temperature=0.0, ban_eos=True)
    card = context.library.import_card(json.dumps(CARD).encode(), source_name="bram.json")
    chat_id = context.chat.new_chat(card.id).id
    chats = context.stores.chats
    chats.update_settings(chat_id, ChatSettings(preset="Short"))
    parent = chats.active_path(chat_id)[-1].id
    rng = random.Random(3)
    for i in range(1, 70):
        is_user = i % 2 == 1
        text = EARLY_FACTS[i // 4 - 1] if i in (4, 8, 12) else filler(rng, is_user)
        role, speaker = (Role.USER, "User") if is_user else (Role.ASSISTANT, "Bram")
        parent = chats.add_message(chat_id, parent, role=role, speaker=speaker, content=text).id
    history = chats.active_path(chat_id)
    memory = context.services.memory
    memory.save_settings(chat_id, MemorySettings(enabled=False))
    without_memory = context.chat.prompt(chat_id, extra_user_message=QUESTION)
    oldest = first_in_prompt(without_memory, len(history) + 1)
    assert 12 < oldest < len(history) - 10  # the early facts are out, the chat overflows
    chats.update_message_content(history[oldest].id, CAPTAIN)
    memory.save_settings(chat_id, MemorySettings(enabled=True, summary_block=0))
    return chat_id, oldest


def test_a_message_the_new_block_pushes_out_is_recalled_in_the_same_turn(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    chat_id, captain = heron_chat(context, smollm_path, _isolated_home)

    prompt = context.chat.prompt(chat_id, extra_user_message=QUESTION)

    assert "Past events" in prompt.text  # a block was recalled
    n_history = len(context.stores.chats.active_path(chat_id)) + 1
    assert first_in_prompt(prompt, n_history) > captain  # and pushed the captain out
    assert "Orlov" in prompt.text  # who comes back with the memories
    assert prompt.n_tokens < 1024


def test_a_reply_recalls_what_its_new_block_pushed_out(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    chat_id, _ = heron_chat(context, smollm_path, _isolated_home)

    for _ in context.chat.send(chat_id, QUESTION):
        pass

    assert "Orlov" in context.services.memory.overview(chat_id).block
