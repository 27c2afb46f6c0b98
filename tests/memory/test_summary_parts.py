"""A block too long for one summary prompt is summarized in parts, none of its text left
out, and the parts' summaries are combined into the block's one summary.

SmolLM2 writes the summaries (a small context makes a short block too long for one
prompt); the cancellation of a summary in parts is checked with a scripted writer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.chat.memory.summaries import (
    SUMMARY_INSTRUCTION,
    SummaryStore,
    SummaryWorker,
    TokenCounter,
    Writer,
    block_digest,
    coverage,
)
from app.chat.memory.writer import ModelWriter
from app.chat.requests import RequestBuilder
from app.context import AppContext
from app.engine.llamacpp import LoadOptions
from app.prompt.sandbox import TemplateSandbox
from app.storage.memory_types import MemorySettings
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Message, Role
from tests.memory.test_summaries import ferry_chat, store_refusing_summaries

#: What happened aboard, a sentence at a time; each message tells some of it.
EVENTS = (
    "the storm broke over the estuary and the ferry rolled hard",
    "the cook tied the barrels down with the anchor chain",
    "a passenger in a grey coat asked to be put ashore at the old mill",
    "the engine coughed twice and the lamps went out below deck",
    "Wren steered by the lighthouse until the rain eased",
    "the harbour master refused to open the lock before dawn",
)
#: The last words of message ``i``: whether a summary's prompt held all of it.
CODE_WORD = "The code word of message {i} is {word}."
WORDS = ("amber", "basalt", "cobalt", "damask", "ember", "fennel", "garnet", "hazel", "indigo")
#: A context this small makes the block below too long for one summary prompt.
N_CTX = 512


@dataclass
class RecordingWriter:
    """A writer that records each prompt it is asked and the answer it gave."""

    writer: Writer
    asked: list[tuple[str, str, int, str | None]] = field(default_factory=list)

    def __call__(
        self, instruction: str, text: str, cancel: threading.Event, tokens: int
    ) -> str | None:
        answer = self.writer(instruction, text, cancel, tokens)
        self.asked.append((instruction, text, tokens, answer))
        return answer


def line_of(message: Message) -> str:
    """How ``message`` reads in a summary's prompt: ``Speaker: text``, spaces made single."""
    return f"{message.speaker}: {' '.join(message.content.split())}"


def long_message(i: int, sentences: int) -> str:
    """A message of ``sentences`` sentences about the voyage, its code word last."""
    told = " ".join(f"Then {EVENTS[(i + k) % len(EVENTS)]}." for k in range(sentences))
    return f"{told} {CODE_WORD.format(i=i, word=WORDS[i])}"


def voyage_chat(context: AppContext, lengths: list[int]) -> list[Message]:
    """A chat with Wren of her greeting and one message of ``lengths[i]`` sentences for
    each ``i``; its active path."""
    chat_id, ids = ferry_chat(context, 1)
    chats = context.stores.chats
    for i, sentences in enumerate(lengths, start=1):
        role, speaker = (Role.USER, "User") if i % 2 else (Role.ASSISTANT, "Wren")
        text = long_message(i, sentences)
        ids.append(chats.add_message(chat_id, ids[-1], role=role, speaker=speaker, content=text).id)
    return chats.active_path(chat_id)


def summary_worker(context: AppContext, writer: Writer, count: TokenCounter) -> SummaryWorker:
    """A summary worker on the app's memory repository, writing with ``writer``."""
    repository = MemoryRepository(context.db)
    store = SummaryStore(
        repository.summaries, repository.add_summary, context.stores.chats.active_path,
        repository.settings,
    )  # fmt: skip
    return SummaryWorker(store, writer, count)


@pytest.mark.model
def test_smollm_summarizes_a_block_too_long_for_one_prompt_in_parts(
    context: AppContext, smollm_path: Path
) -> None:
    backend = context.models.load(smollm_path, LoadOptions(n_ctx=N_CTX, threads=2))
    # messages of about 95 tokens, one of 190 (its code word after its 800th character)
    # and one longer than a whole prompt: a block of eight with Wren's greeting
    path = voyage_chat(context, [6, 6, 6, 13, 6, 6, 40, 2])
    block = path[:8]
    chat_id = path[0].chat_id
    context.services.memory.save_settings(chat_id, MemorySettings(summary_block=8))
    recorder = RecordingWriter(ModelWriter(context.models, RequestBuilder(TemplateSandbox())))
    worker = summary_worker(context, recorder, backend.count_tokens)
    worker.schedule(chat_id, first_in=8, n_ctx=N_CTX)
    assert worker.wait_idle(60)
    worker.close()

    asked = recorder.asked
    parts = [
        (text, answer)
        for instruction, text, _, answer in asked
        if instruction == SUMMARY_INSTRUCTION
    ]
    combines = [text for instruction, text, _, _ in asked if instruction != SUMMARY_INSTRUCTION]
    assert len(parts) >= 3 and combines
    for instruction, text, tokens, _ in asked:  # every prompt fits in the context
        assert backend.count_tokens(instruction) + backend.count_tokens(text) + tokens < N_CTX
    for message in block[:-1]:  # every message whole, in order, each in one part
        assert sum(line_of(message) in text for text, _ in parts) == 1, message.id
    assert line_of(block[4]).index(CODE_WORD.format(i=4, word=WORDS[4])) > 800
    longest = line_of(block[7])
    (cut,) = [text for text, _ in parts if text.endswith(" …")]  # the only one cut …
    start = cut.removesuffix(" …")  # … its start, a whole prompt's worth
    assert longest.startswith(start) and 1000 < len(start) < len(longest)
    for _, answer in parts:  # each part's summary is combined into the block's
        assert answer and any(answer in text for text in combines)
    (stored,) = MemoryRepository(context.db).summaries(chat_id)
    assert stored.text == asked[-1][3] and stored.message_ids == tuple(m.id for m in block)
    assert stored.digest == block_digest(block)
    assert coverage(path, 8, 8, [stored]).valid == (stored,)


def test_a_reply_cancels_a_summary_in_parts_between_its_parts(context: AppContext) -> None:
    chat_id, _ = ferry_chat(context, 30)
    path = context.stores.chats.active_path(chat_id)
    second, asked, stored = threading.Event(), [], []

    def writer(instruction: str, text: str, cancel: threading.Event, tokens: int) -> str | None:
        asked.append(text)
        if len(asked) == 1:
            return "The first part."
        second.set()
        return None if cancel.wait(30) else "never"

    store = store_refusing_summaries(context, path, stored)
    worker = SummaryWorker(store, writer, len)  # a character a token: 3 parts of 20 messages
    worker.schedule(chat_id, first_in=25, n_ctx=2048)
    assert second.wait(30)
    worker.pause()  # what a reply does before it starts
    assert worker.wait_idle(10) and not stored and len(asked) == 2
    worker.close()
