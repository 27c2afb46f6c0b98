"""Pinned summaries and facts over the story's budget: they always stay in the story
so far, and only unpinned summaries are left out of it, or merged (by SmolLM2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chat.memory.recall import MemoryRecall
from app.chat.memory.summaries import block_digest, coverage
from app.chat.memory.writer import ModelWriter
from app.chat.requests import RequestBuilder
from app.context import AppContext, MemoryModel, build_memory
from app.engine.llamacpp import LoadOptions
from app.prompt.sandbox import TemplateSandbox
from app.storage.memory_types import MemorySettings, Summary
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Message
from tests.memory.test_summaries import ferry_chat
from tests.memory.test_summary_parts import summary_worker

FACT = "Wren's ferry is called the Brown Heron and never sails on Sundays."


def summarize_blocks(
    repository: MemoryRepository, path: list[Message], block: int, texts: list[str]
) -> list[Summary]:
    """Store ``texts`` as the valid summaries of the path's first blocks, one each."""
    summaries = []
    for i, text in enumerate(texts):
        run = path[i * block : (i + 1) * block]
        ids, digest = [m.id for m in run], block_digest(run)
        summary = repository.add_summary(
            path[0].chat_id, "summary", text, message_ids=ids, digest=digest
        )
        summaries.append(summary)
    return summaries


def part_text(k: int) -> str:
    """A summary of about 50 tokens of the ``k``-th part of the voyage."""
    return f"Part {k}: Wren and the passengers crossed the river and argued about the cargo. " * 3


@pytest.mark.model
def test_pinned_summaries_stay_in_the_story_over_its_budget(
    context: AppContext, smollm_path: Path
) -> None:
    backend = context.models.load(smollm_path, LoadOptions(n_ctx=1024, threads=2))
    chat_id, _ = ferry_chat(context, 45)
    path = context.stores.chats.active_path(chat_id)
    settings = MemorySettings(summary_block=10)
    repository = MemoryRepository(context.db)
    oldest, second, third, newest = summarize_blocks(
        repository, path, 10, [part_text(k) for k in range(4)]
    )
    repository.update_summary(oldest.id, pinned=True)
    repository.add_summary(chat_id, "fact", FACT, pinned=True)
    requests = RequestBuilder(TemplateSandbox())
    memory = MemoryModel(context.models, requests, context.stores.chats)
    recall: MemoryRecall = build_memory(context.settings, context.db, TemplateSandbox(), memory)

    # 153 tokens: the fact and the pinned summary, then room for the newest one only
    story = recall.story(chat_id, path, 40, settings, 1024, backend.count_tokens)
    assert FACT in story and oldest.text in story and newest.text in story
    assert second.text not in story and third.text not in story
    # 45 tokens: the fact and the pinned summary alone are over; the newest stays too
    story = recall.story(chat_id, path, 40, settings, 300, backend.count_tokens)
    assert FACT in story and oldest.text in story and newest.text in story
    assert second.text not in story and third.text not in story
    assert story.index(oldest.text) < story.index(newest.text)  # in the story's order
    if recall.summaries is not None:
        recall.summaries.close()


@pytest.mark.model
def test_smollm_merges_only_unpinned_summaries_when_the_facts_fill_the_budget(
    context: AppContext, smollm_path: Path
) -> None:
    backend = context.models.load(smollm_path, LoadOptions(n_ctx=512, threads=2))
    chat_id, _ = ferry_chat(context, 25)
    path = context.stores.chats.active_path(chat_id)
    context.services.memory.save_settings(chat_id, MemorySettings(summary_block=5))
    repository = MemoryRepository(context.db)
    texts = [f"Wren carried {cargo} across the river." for cargo in ("salt", "wool", "tin", "rye")]
    first, pinned, third, fourth = summarize_blocks(repository, path, 5, texts)
    repository.update_summary(pinned.id, pinned=True)
    repository.add_summary(chat_id, "fact", FACT * 3, pinned=True)
    written = sum(backend.count_tokens(text) for text in texts)
    assert written <= 76 < written + backend.count_tokens(FACT * 3)  # the story's budget
    requests = RequestBuilder(TemplateSandbox())
    worker = summary_worker(context, ModelWriter(context.models, requests), backend.count_tokens)
    worker.schedule(chat_id, first_in=20, n_ctx=512)
    assert worker.wait_idle(60)
    worker.close()

    stored = [s for s in repository.summaries(chat_id) if s.kind == "summary"]
    merged = stored[-1]  # the third and fourth, merged; the pinned one stays as it was
    assert [s.id for s in stored[:2]] == [first.id, pinned.id]
    assert stored[1].text == pinned.text and stored[1].pinned
    assert merged.message_ids == (*third.message_ids, *fourth.message_ids)
    assert merged.digest == block_digest(path[10:20]) and merged.text.strip()
    assert coverage(path, 20, 5, stored).valid == (first, stored[1], merged)
