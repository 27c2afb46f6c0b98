"""SillyTavern's Summarize data (``extra.memory``) imports as a summary and exports back."""

from __future__ import annotations

import json
from pathlib import Path

from app.chat.memory.summaries import coverage
from app.context import AppContext
from app.engine.fake import FakeBackend
from app.storage.repositories.memory import MemoryRepository


def st_chat_file(path: Path, n: int, memory_at: int, memory: str) -> None:
    """A SillyTavern chat with Ysolde whose message ``memory_at`` carries a summary."""
    header = {"user_name": "Ada", "character_name": "Ysolde Marrow", "chat_metadata": {}}
    lines: list[dict[str, object]] = [header]
    for i in range(n):
        extra: dict[str, object] = {"memory": memory} if i == memory_at else {}
        lines.append({
            "name": "Ada" if i % 2 else "Ysolde Marrow", "is_user": bool(i % 2),
            "send_date": "2025-01-01T10:00:00.000Z",
            "mes": f"Line {i}: the tide came in over the causeway again. " * 4, "extra": extra,
        })  # fmt: skip
    path.write_text("\n".join(json.dumps(line) for line in lines))


def test_st_summary_in_and_out(context: AppContext, tmp_path: Path) -> None:
    source = tmp_path / "Causeway.jsonl"
    st_chat_file(source, 80, 30, "Ada came to the island and found the keeper's ledger.")
    chat = context.chat_files.import_chat(source)
    memory = context.services.memory
    (view,) = memory.summaries(chat.id)
    assert view.state == "current" and len(view.summary.message_ids) == 31
    context.models.use(FakeBackend(n_ctx=5000))
    prompt = context.chat.prompt(chat.id).text
    assert "Story so far" in prompt and "keeper's ledger" in prompt
    memory.edit_summary(view.summary.id, "Ada found the ledger; the keeper lied about it.")
    (written,) = context.chat_files.export_character(chat.character_ids[0], tmp_path / "out")
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert lines[31]["extra"]["memory"] == "Ada found the ledger; the keeper lied about it."
    assert sum("memory" in line.get("extra", {}) for line in lines[1:]) == 1


def test_a_recent_st_summary_is_used_at_once_and_not_written_again(
    context: AppContext, tmp_path: Path
) -> None:
    """SillyTavern's rolling summary sits on a recent message, still in the prompt: it is
    the story so far from the first message that leaves, as in SillyTavern, and the
    blocks it covers are not summarized again."""
    source = tmp_path / "Causeway.jsonl"
    st_chat_file(source, 80, 76, "Ada came to the island and found the keeper's ledger.")
    chat = context.chat_files.import_chat(source)
    memory = context.services.memory
    (view,) = memory.summaries(chat.id)
    assert view.state == "current" and len(view.summary.message_ids) == 77
    context.models.use(FakeBackend(n_ctx=8000))  # (a token a character) most of the chat leaves
    prompt = context.chat.prompt(chat.id).text
    assert "Story so far" in prompt and "keeper's ledger" in prompt
    assert "Line 79:" in prompt
    path = context.stores.chats.active_path(chat.id)
    plan = coverage(path, 40, 20, MemoryRepository(context.db).summaries(chat.id))
    assert plan.valid == (view.summary,) and plan.missing == ()
