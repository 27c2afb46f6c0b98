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


def after_block(prompt: str, block: str = "") -> str:
    """The prompt's text just after ``block`` (the memories block, by default): the
    start of the message it sits before."""
    start = prompt.index(block) + len(block) if block else prompt.index("\n]", prompt.index(MARK))
    return prompt[start : start + 200]


MARK = "[Past events"


def cellar_key_chat(context: AppContext, smollm_path: Path, home: Path) -> int:
    """A 240-message chat on SmolLM2 (n_ctx 2048, 8-token replies, recall without
    summaries) whose last turn asked where the cellar key is: its block holds the answer."""
    context.models.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    write_preset(home, "Short", max_new_tokens=8, temperature=0.0, ban_eos=True)
    chat_id = long_chat(context, 240)
    context.stores.chats.update_settings(chat_id, ChatSettings(preset="Short"))
    context.services.memory.save_settings(chat_id, MemorySettings(summary_block=0))
    reply(context, chat_id, "Where did I hide the key to the wine cellar?")
    assert "blue flowerpot" in context.services.memory.overview(chat_id).block
    return chat_id


def test_a_block_still_relevant_stays_in_place_and_its_cache_is_reused(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    chat_id = cellar_key_chat(context, smollm_path, _isolated_home)
    memory = context.services.memory
    first = memory.overview(chat_id)

    # A follow-up on the same thing: nothing fresher, the block stays at its anchor, and
    # only the last reply and the new message are evaluated (not the block).
    info = reply(context, chat_id, "Do you think the cellar key is still there?")
    assert memory.overview(chat_id).block == first.block
    block_tokens = context.chat.count_tokens(first.block)
    assert info.tokens_evaluated is not None and info.prompt_tokens is not None
    assert info.tokens_evaluated < block_tokens, (info, block_tokens)
    prompt = context.chat.prompt(chat_id).text
    assert prompt.count("[Past events") == 1

    # A new subject with a memory of its own: its chunk joins the block where it is, so
    # only that chunk and the new messages are evaluated, not the whole block again.
    before = context.chat.prompt(chat_id).text
    info = reply(context, chat_id, "What was the name of the captain of the Silver Heron?")
    second = memory.overview(chat_id)
    assert "Orlov" in second.block
    kept = {(h.message_id, h.chunk_index) for h in first.recalled}
    new_chunks = [h for h in second.recalled if (h.message_id, h.chunk_index) not in kept]
    assert any("Orlov" in h.text for h in new_chunks)
    assert len(new_chunks) < len(second.recalled)  # the rest of the block is kept
    after = context.chat.prompt(chat_id).text
    assert after_block(before, first.block) == after_block(after, second.block)  # same anchor
    assert info.tokens_evaluated is not None
    assert info.tokens_evaluated < context.chat.count_tokens(second.block), info


def test_a_block_about_to_leave_the_prompt_moves_down_while_the_user_types(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    chat_id = cellar_key_chat(context, smollm_path, _isolated_home)
    memory = context.services.memory
    block = memory.overview(chat_id).block
    placed = after_block(context.chat.prompt(chat_id).text)

    # Long messages on the same subject push the block's place up the prompt.  Before
    # the turn whose new message would push it out, the block is moved down, in the
    # background: that turn evaluates its new message and nothing of the block.
    for turn in range(12):
        context.prefill.wait_idle(120)
        text = f"Tell me again about the cellar key, my friend ({turn}). " + LONG_WORRY
        info = reply(context, chat_id, text)
        now = after_block(context.chat.prompt(chat_id).text)
        if now != placed:
            break
    else:
        pytest.fail("the block never moved")
    assert memory.overview(chat_id).block == block
    assert info.tokens_evaluated is not None
    headers = 16  # the new message's and the reply's role headers
    assert info.tokens_evaluated <= context.chat.count_tokens(text) + headers, info
    assert info.tokens_evaluated < context.chat.count_tokens(block)


LONG_WORRY = (
    "I keep thinking about that key to the wine cellar. Did I really leave it under the "
    "flowerpot by the door, or was it somewhere else? If someone found it they could "
    "walk straight into the cellar and help themselves to every bottle we have. The "
    "wine merchant delivered six new barrels only last week, and I have not even "
    "counted them yet. Maybe I should move the key somewhere safer, or carry it on me "
    "at all times, the way my grandfather did with the keys to his mill. What would "
    "you do, if the cellar were yours and the key were missing in the morning?"
)
