"""A stale summary of several blocks (a merged one) goes when a new summary of any of its
messages is written, so that stale summaries do not pile up."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chat.memory.summaries import block_digest, coverage
from app.chat.memory.writer import ModelWriter
from app.chat.requests import RequestBuilder
from app.context import AppContext
from app.engine.llamacpp import LoadOptions
from app.prompt.sandbox import TemplateSandbox
from app.storage.memory_types import MemorySettings, Summary
from app.storage.repositories.memory import MemoryRepository
from tests.memory.test_summaries import ferry_chat
from tests.memory.test_summary_parts import summary_worker


def test_a_new_summary_replaces_every_stale_one_of_its_messages(context: AppContext) -> None:
    chat_id, ids = ferry_chat(context, 30)
    path = context.stores.chats.active_path(chat_id)
    merged = Summary(1, chat_id, "summary", tuple(ids[:20]), "edited since", "A and B.", False)
    swiped = (*ids[:9], 999)  # of a swipe no longer shown
    kept = Summary(2, chat_id, "summary", swiped, "other", "Pinned A.", True)
    branch = Summary(3, chat_id, "summary", swiped, "other", "A, swiped.", False)
    holds = Summary(
        4, chat_id, "summary", tuple(ids[20:25]), block_digest(path[20:25]), "C.", False
    )
    plan = coverage(path, 25, 10, [merged, kept, branch, holds])
    assert [[m.id for m in run] for run in plan.missing] == [ids[:10], ids[10:20]]
    assert plan.valid == (holds,)
    assert plan.replaces == ((1, 3), ())  # once; a pinned one stays, as the user kept it


@pytest.mark.model
def test_smollm_rewrites_an_edited_merged_summary_as_blocks_and_deletes_it(
    context: AppContext, smollm_path: Path
) -> None:
    backend = context.models.load(smollm_path, LoadOptions(n_ctx=512, threads=2))
    chat_id, ids = ferry_chat(context, 12)
    path = context.stores.chats.active_path(chat_id)
    memory = context.services.memory
    # 97 tokens of story: two 48-token summaries fit, none is merged
    memory.save_settings(chat_id, MemorySettings(summary_block=5, summary_share=0.19))
    repository = MemoryRepository(context.db)
    merged = repository.add_summary(
        chat_id, "summary", "Wren and the User talked about the river and the cargo.",
        message_ids=ids[:10], digest=block_digest(path[:10]),
    )  # fmt: skip
    context.chat.edit(ids[3], "We agreed to carry the mayor's piano across at dawn.")
    assert [v.state for v in memory.summaries(chat_id)] == ["stale"]
    requests = RequestBuilder(TemplateSandbox())
    worker = summary_worker(context, ModelWriter(context.models, requests), backend.count_tokens)
    worker.schedule(chat_id, first_in=10, n_ctx=512)
    assert worker.wait_idle(60)
    worker.close()

    views = memory.summaries(chat_id)  # the new ones, and no stale one
    assert views and all(v.state == "current" for v in views)
    assert merged.text not in {v.summary.text for v in views}
    assert [i for v in views for i in v.summary.message_ids] == ids[:10]
