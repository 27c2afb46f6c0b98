"""A summary written after a reply changes the story so far near the top of the prompt;
the chat's KV slot takes the new story in the background, so the next reply evaluates
its own message, not the story and everything after it (real SmolLM2 and embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.context import AppContext
from app.storage.memory_types import MemorySettings
from tests.chat.test_service import last
from tests.memory.test_summaries import summarized_ferry_chat


@pytest.mark.model
def test_a_new_story_so_far_is_evaluated_before_the_next_message(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    # No memories block (no chunk is that similar): only the story so far changes.
    settings = MemorySettings(summary_block=10, threshold=1.01)
    chat_id, _ = summarized_ferry_chat(context, smollm_path, _isolated_home, settings)
    memory = context.services.memory
    last(context.chat.send(chat_id, "What did we talk about first?"))
    assert memory.wait_for_summaries(300)
    assert context.prefill.wait_idle(300)
    story = context.chat.prompt(chat_id).text
    assert "Story so far" in story
    filled = context.prefill.evaluated
    assert filled > 50  # the new story, and the end of the last reply
    info = last(context.chat.send(chat_id, "Go on.")).gen_info
    assert info is not None and info.tokens_evaluated is not None and info.prompt_tokens
    # The user's line and the reply's header: no story, no history after it.
    assert info.tokens_evaluated <= 24, info
    assert info.prompt_tokens > 600
