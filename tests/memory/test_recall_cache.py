"""The memories block stays where it was while it is still as relevant, so the KV cache
below it is reused: a turn then evaluates only its new messages (real SmolLM2, real
embedder, evaluated-token counts, never times)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.context import AppContext
from app.engine.llamacpp import LoadOptions
from app.storage.memory_types import MemorySettings
from app.storage.types import ChatSettings, GenInfo
from tests.chat.conftest import write_preset
from tests.memory.test_recall import long_chat

pytestmark = pytest.mark.model


def reply(context: AppContext, chat_id: int, text: str) -> GenInfo:
    """Send ``text`` and return the reply's generation figures."""
    info = None
    for progress in context.chat.send(chat_id, text):
        info = progress.gen_info or info
    assert info is not None
    return info


def test_a_block_still_relevant_stays_in_place_and_its_cache_is_reused(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    context.models.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    write_preset(_isolated_home, "Short", max_new_tokens=8, temperature=0.0, ban_eos=True)
    chat_id = long_chat(context, 240)
    context.stores.chats.update_settings(chat_id, ChatSettings(preset="Short"))
    memory = context.services.memory
    memory.save_settings(chat_id, MemorySettings(summary_block=0))  # recall alone

    reply(context, chat_id, "Where did I hide the key to the wine cellar?")
    first = memory.overview(chat_id)
    assert "blue flowerpot" in first.block

    # A follow-up on the same thing: nothing fresher, the block stays at its anchor, and
    # only the last reply and the new message are evaluated (not the block).
    info = reply(context, chat_id, "Do you think the cellar key is still there?")
    assert memory.overview(chat_id).block == first.block
    block_tokens = context.chat.count_tokens(first.block)
    assert info.tokens_evaluated is not None and info.prompt_tokens is not None
    assert info.tokens_evaluated < block_tokens, (info, block_tokens)
    prompt = context.chat.prompt(chat_id).text
    assert prompt.count("[Past events") == 1

    # A new subject with a memory of its own: a new block, placed at the usual depth.
    reply(context, chat_id, "What was the name of the captain of the Silver Heron?")
    assert "Orlov" in memory.overview(chat_id).block
