"""Summaries: written by SmolLM2 in the background, in the story so far, redone when stale.

The worker's orchestration (a reply cancels the summary under way) is checked with a
writer that waits to be cancelled; everything else runs on the real model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.chat.memory.summaries import SummaryStore, SummaryWorker, block_digest, coverage
from app.context import AppContext
from app.engine.llamacpp import LoadOptions
from app.storage.memory_types import MemorySettings, Summary
from app.storage.types import ChatSettings, Message, Role
from tests.chat.conftest import write_preset
from tests.chat.test_service import last

CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {"name": "Wren", "description": "Wren pilots a ferry.", "first_mes": "Aboard!"},
}
TOPICS = ("the river", "the cargo", "the weather", "the passengers", "the engine", "the dock")


def ferry_chat(context: AppContext, n: int) -> tuple[int, list[int]]:
    """A chat of ``n`` messages with Wren (the Short preset); its id and message ids."""
    card = context.library.import_card(json.dumps(CARD).encode(), source_name="wren.json")
    chat = context.chat.new_chat(card.id)
    context.stores.chats.update_settings(chat.id, ChatSettings(preset="Short"))
    chats = context.stores.chats
    ids = [chats.active_path(chat.id)[-1].id]
    for i in range(1, n):
        user = i % 2 == 1
        text = f"Message {i}: we spoke about {TOPICS[i % 6]} and what to do about it. " * 3
        role, speaker = (Role.USER, "User") if user else (Role.ASSISTANT, "Wren")
        ids.append(chats.add_message(chat.id, ids[-1], role=role, speaker=speaker, content=text).id)
    return chat.id, ids


def summarized_ferry_chat(
    context: AppContext, model: Path, home: Path, settings: MemorySettings
) -> tuple[int, list[int]]:
    """A 60-message ferry chat on SmolLM2 at n_ctx 1024 (greedy, 8-token replies), its
    memory set to ``settings``; its id and message ids."""
    write_preset(home, "Short", max_new_tokens=8, temperature=0.0)
    context.models.load(model, LoadOptions(n_ctx=1024, threads=2))
    chat_id, ids = ferry_chat(context, 60)
    context.services.memory.save_settings(chat_id, settings)
    return chat_id, ids


@pytest.mark.model
def test_smollm_summarizes_what_left_the_context_and_redoes_a_stale_summary(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    settings = MemorySettings(summary_block=10)
    chat_id, ids = summarized_ferry_chat(context, smollm_path, _isolated_home, settings)
    memory = context.services.memory
    memory.add_fact(chat_id, "Wren's ferry is called the Brown Heron.")
    last(context.chat.send(chat_id, "What did we talk about first?"))
    assert memory.wait_for_summaries(300)
    views = memory.summaries(chat_id)
    written = [v for v in views if v.state == "current"]
    assert written and all(v.summary.text.strip() for v in written)
    prompt = context.chat.prompt(chat_id).text
    assert "Story so far" in prompt and "Brown Heron" in prompt
    newest = max(written, key=lambda v: v.summary.message_ids[-1]).summary
    assert newest.text in prompt  # the summary of the latest messages always is
    # The summaries' prompts displaced the chat's KV cache; it was saved and is restored:
    # the next reply evaluates the new story and messages, not its whole prompt.
    info = last(context.chat.send(chat_id, "Go on.")).gen_info
    assert info is not None and info.tokens_evaluated is not None and info.prompt_tokens
    assert info.tokens_evaluated < info.prompt_tokens // 2, info
    assert memory.wait_for_summaries(300)
    # the oldest messages are summarized (perhaps merged with the next block's)
    current = [v.summary for v in memory.summaries(chat_id) if v.state == "current"]
    first = next(s for s in current if s.message_ids[0] == ids[0])
    # An edit among the first block's messages makes its summary stale: out of the
    # prompt, and written again after the next reply.
    context.chat.edit(ids[3], "We agreed to carry the mayor's piano across at dawn.")
    stale = {v.summary.id: v.state for v in memory.summaries(chat_id)}
    assert stale[first.id] == "stale"
    last(context.chat.send(chat_id, "And then?"))
    assert memory.wait_for_summaries(300)
    again = [v.summary for v in memory.summaries(chat_id) if v.state == "current"]
    redone = next(s for s in again if s.message_ids[0] == ids[0])
    # (compared whole: SQLite may give the new summary the id of the stale one it replaced)
    assert redone.digest != first.digest and first not in again
    assert all(v.state != "stale" for v in memory.summaries(chat_id))  # none left stale


def store_refusing_summaries(
    context: AppContext, path: Sequence[Message], stored: list[object]
) -> SummaryStore:
    """A store of the chat at ``path`` where storing a summary is a failure (noted in
    ``stored``): the summary's writing was to be cancelled."""

    def add(*args: object, **kwargs: object) -> Summary:
        stored.append(args)
        raise AssertionError("a cancelled summary is never stored")

    memory = context.services.memory
    return SummaryStore(lambda chat: [], add, lambda chat: path, lambda chat: memory.settings(chat))


def test_a_reply_cancels_the_summary_under_way(context: AppContext) -> None:
    chat_id, _ = ferry_chat(context, 30)
    path = context.stores.chats.active_path(chat_id)
    started, stored = threading.Event(), []

    def writer(instruction: str, text: str, cancel: threading.Event, tokens: int) -> str | None:
        started.set()
        return None if cancel.wait(30) else "never"

    store = store_refusing_summaries(context, path, stored)
    worker = SummaryWorker(store, writer, len)
    worker.schedule(chat_id, first_in=25, n_ctx=2048)
    assert started.wait(30)
    worker.pause()  # what a reply does before it starts
    assert worker.wait_idle(10) and not stored
    worker.close()


def test_coverage_takes_whole_blocks_and_finds_stale_ones(context: AppContext) -> None:
    chat_id, ids = ferry_chat(context, 30)
    path = context.stores.chats.active_path(chat_id)
    good = Summary(1, chat_id, "summary", tuple(ids[:10]), block_digest(path[:10]), "A.", False)
    old = Summary(2, chat_id, "summary", tuple(ids[10:20]), "edited since", "B.", False)
    plan = coverage(path, 25, 10, [good, old])
    assert plan.valid == (good,)
    assert [[m.id for m in run] for run in plan.missing] == [ids[10:20]]
    assert plan.replaces == ((2,),)  # the stale summary of the same messages goes
    assert coverage(path, 9, 10, []).missing == ()  # no block is out yet: none to write
    # one that reaches into the prompt is used (SillyTavern's rolling summary is)
    assert coverage(path, 9, 10, [good]).valid == (good,)
