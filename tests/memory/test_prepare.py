"""A long chat with memory on is made ready for recall when it is shown, in the
background: the embedder loads and the missing messages are embedded, giving way to a
reply."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from app.chat.memory.recall import LONG_CHAT, NEAR_FULL
from app.context import AppContext
from app.engine.embedder import EmbedProgress, LazyEmbedder
from app.engine.llamacpp import LoadOptions
from app.storage.memory_types import MemorySettings
from app.storage.types import ChatSettings
from tests.chat.conftest import write_preset
from tests.memory.test_recall import long_chat


def embedder_of(context: AppContext) -> LazyEmbedder:
    embedder = context.services.memory.index_of().embedder
    assert isinstance(embedder, LazyEmbedder)
    return embedder


def test_showing_a_long_chat_loads_the_embedder_and_embeds_it(context: AppContext) -> None:
    memory = context.services.memory
    short = long_chat(context, LONG_CHAT - 1)
    context.chat.view(short)
    assert memory.wait_for_summaries(120)
    assert not embedder_of(context).loaded  # a short chat never loads torch when shown
    chat_id = long_chat(context, LONG_CHAT + 20)
    off = long_chat(context, LONG_CHAT + 20)
    memory.save_settings(off, MemorySettings(enabled=False))
    context.chat.view(off)
    assert memory.wait_for_summaries(120)
    assert not embedder_of(context).loaded  # nor does a chat with memory off
    context.chat.view(chat_id)
    assert memory.wait_for_summaries(120)
    assert embedder_of(context).loaded
    assert memory.pending(chat_id) == 0 and memory.overview(chat_id).messages == LONG_CHAT + 20


def test_getting_a_chat_ready_gives_way_to_a_reply(
    context: AppContext, smollm_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context.models.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    memory = context.services.memory
    chat_id = long_chat(context, 200)
    memory.save_settings(chat_id, MemorySettings(summary_block=0))  # recall alone
    embedder = embedder_of(context)
    embedder.load()
    calls: list[tuple[str, int, bool]] = []  # thread, texts, finished
    started = threading.Event()
    embed = embedder.embed

    def watched(texts: Sequence[str], progress: EmbedProgress | None = None) -> NDArray[np.float32]:
        name = threading.current_thread().name
        if len(texts) > 1 and name == "parlor-summaries":
            started.set()
            time.sleep(0.5)  # the user sends while the first batch is embedded
        try:
            vectors = embed(texts, progress)
        except BaseException:
            calls.append((name, len(texts), False))
            raise
        calls.append((name, len(texts), True))
        return vectors

    monkeypatch.setattr(embedder, "embed", watched)
    context.chat.view(chat_id)
    assert started.wait(120)
    reply = list(context.chat.send(chat_id, "Tell me about the tide tables."))
    assert reply and memory.wait_for_summaries(120)
    background = [c for c in calls if c[0] == "parlor-summaries" and c[1] > 1]
    assert background and not background[0][2], calls  # cut short by the reply
    assert memory.pending(chat_id) == 0  # the reply's recall embedded the chat itself


def test_a_chat_about_to_overflow_is_made_ready_after_a_reply(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    """A reply whose prompt nearly fills the context, every message still in it, has
    the embedder loaded and the chat embedded while the user reads: the first turn whose
    messages leave the context then waits for neither."""
    context.models.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    write_preset(_isolated_home, "Short", max_new_tokens=8, temperature=0.0, ban_eos=True)
    memory = context.services.memory
    chat_id, size = 0, 0
    for n in range(24, LONG_CHAT, 2):  # the longest chat under LONG_CHAT whose next
        chat_id = long_chat(context, n)  # prompt holds every message (so no recall)
        context.stores.chats.update_settings(chat_id, ChatSettings(preset="Short"))
        prompt = context.chat.prompt(chat_id, extra_user_message="And the weather?")
        if "Welcome to the Gull and Anchor" not in prompt.text:
            break
        size = prompt.n_tokens
    assert size >= NEAR_FULL * 2048, size
    chat_id = long_chat(context, n - 2)
    context.stores.chats.update_settings(chat_id, ChatSettings(preset="Short"))
    assert not embedder_of(context).loaded
    list(context.chat.send(chat_id, "And the weather?"))
    assert memory.wait_for_summaries(120)
    assert embedder_of(context).loaded
    overview = memory.overview(chat_id)
    assert overview.messages == overview.path_messages - 1  # all but the reply
