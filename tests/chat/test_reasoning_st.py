"""A SillyTavern chat with ``extra.reasoning``: imported per swipe, shown, left out of the
next prompt, and written back as SillyTavern wrote it (``swipe_info`` kept in step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.chatfile import js_stringify
from app.context import AppContext
from app.engine.fake import FakeBackend


def info(when: str, **extra: Any) -> dict[str, Any]:
    return {"send_date": when, "gen_started": when, "gen_finished": when, "extra": extra}


THOUGHT_1 = "The traveller is soaked; offer the fire first."
THOUGHT_2 = "Maybe tea instead."
HEADER = {"chat_metadata": {"integrity": "a1"}, "user_name": "unused", "character_name": "unused"}
GREETING = {
    "name": "Ysolde Marrow", "is_user": False, "is_system": False,
    "send_date": "2025-12-01T10:00:00.000Z", "mes": "The lamp gutters.", "extra": {},
}  # fmt: skip
QUESTION = {
    "name": "User", "is_user": True, "is_system": False,
    "send_date": "2025-12-01T10:00:10.000Z", "mes": "May I come in?",
    "extra": {"isSmallSys": False},
}  # fmt: skip
EXTRA_1 = {"api": "textgenerationwebui", "model": "QwQ-32B", "reasoning": THOUGHT_1,
           "reasoning_duration": 3200, "reasoning_type": "parsed"}  # fmt: skip
EXTRA_2 = {"api": "textgenerationwebui", "model": "QwQ-32B", "reasoning": THOUGHT_2,
           "reasoning_duration": 900, "reasoning_type": "parsed"}  # fmt: skip
REPLY = {
    "name": "Ysolde Marrow", "is_user": False, "send_date": "2025-12-01T10:00:20.000Z",
    "mes": "*She opens the door wide.* Come, sit by the fire.",
    "extra": EXTRA_1, "swipe_id": 0,
    "swipes": ["*She opens the door wide.* Come, sit by the fire.", "Tea?"],
    "swipe_info": [info("2025-12-01T10:00:20.000Z", **EXTRA_1),
                   info("2025-12-01T10:00:30.000Z", **EXTRA_2)],
}  # fmt: skip
FILE = "\n".join(js_stringify(o) for o in (HEADER, GREETING, QUESTION, REPLY))


def imported(context: AppContext, tmp_path: Path) -> int:
    path = tmp_path / "Lamp.jsonl"
    path.write_text(FILE, encoding="utf-8")
    context.chat_files.import_file(path, "Ysolde Marrow")
    return next(c.id for c in context.chat.recent_chats() if c.title == "Lamp")


def exported(context: AppContext, chat_id: int, tmp_path: Path) -> str:
    return context.chat_files.export_chat(chat_id, tmp_path / "out").read_text(encoding="utf-8")


def test_reasoning_comes_in_per_swipe_and_the_next_prompt_omits_it(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    chat_id = imported(context, tmp_path)
    last = context.chat.view(chat_id).messages[-1]
    assert last.message.content.startswith("*She opens the door wide.*")
    assert (last.thought.text, last.thought.duration_ms) == (THOUGHT_1, 3200)
    other = context.chat.swipe(last.message.id, +1).shown
    assert other is not None and other.content == "Tea?"
    assert context.chat.view(chat_id).messages[-1].thought.text == THOUGHT_2
    context.chat.swipe(other.id, -1)
    prompt = context.chat.prompt(chat_id, extra_user_message="Thank you.").text
    assert "Come, sit by the fire." in prompt
    assert "soaked" not in prompt and "tea instead" not in prompt


def test_an_unchanged_chat_goes_back_byte_for_byte(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    chat_id = imported(context, tmp_path)
    assert exported(context, chat_id, tmp_path) == FILE


def test_edited_reasoning_is_exported_in_extra_and_in_swipe_info(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    chat_id = imported(context, tmp_path)
    reply = context.chat.view(chat_id).messages[-1].message
    tea = context.chat.swipe(reply.id, +1).shown
    assert tea is not None
    context.chat.set_reasoning(tea.id, "Tea settles nerves.")
    context.chat.swipe(tea.id, -1)
    context.chat.set_reasoning(reply.id, "")
    lines = [json.loads(line) for line in exported(context, chat_id, tmp_path).splitlines()]
    out = lines[-1]
    assert out["extra"]["reasoning"] == "" and "reasoning_duration" not in out["extra"]
    assert out["swipe_info"][0]["extra"] == out["extra"]
    second = out["swipe_info"][1]["extra"]
    assert (second["reasoning"], second["reasoning_type"]) == ("Tea settles nerves.", "edited")
    assert second["reasoning_duration"] == 900
    assert out["swipes"] == REPLY["swipes"]


def test_a_reply_generated_in_parlor_exports_its_reasoning_as_sillytavern_does(
    context: AppContext, fake: FakeBackend, tmp_path: Path
) -> None:
    chat_id = imported(context, tmp_path)
    fake.enqueue(["<think>\nShe trusts them now.\n</think>\n\nSit, please."])
    list(context.chat.send(chat_id, "Thank you."))
    out = json.loads(exported(context, chat_id, tmp_path).splitlines()[-1])
    assert out["mes"] == "Sit, please."
    assert out["extra"]["reasoning"] == "She trusts them now."
    assert isinstance(out["extra"]["reasoning_duration"], int)
    assert out["swipe_info"][0]["extra"]["reasoning"] == "She trusts them now."
