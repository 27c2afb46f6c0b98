"""``parlor import`` embeds an imported chat; ``parlor memory`` shows and rebuilds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_commands import parlor


def write_chat(path: Path, n: int) -> None:
    """A SillyTavern chat file with Ysolde of ``n`` messages."""
    header = {"user_name": "Ada", "character_name": "Ysolde Marrow", "chat_metadata": {}}
    lines = [header] + [
        {
            "name": "Ada" if i % 2 else "Ysolde Marrow",
            "is_user": bool(i % 2),
            "send_date": "2025-01-01T10:00:00.000Z",
            "mes": f"Message {i} about the tides, the lamps and the ledger of ship number {i}.",
            "extra": {},
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))


def test_import_embeds_and_memory_shows_and_rebuilds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "Tides.jsonl"
    write_chat(source, 40)  # long enough to be embedded at import (LONG_CHAT)
    done = parlor(capsys, "import", str(source))
    assert done.code == 0, done.err
    assert "imported chat 'Tides'" in done.out and "memory: embedded 40 messages" in done.out
    shown = parlor(capsys, "memory", "Tides")
    assert shown.code == 0, shown.err
    assert "memory on" in shown.out and "index: 40 chunks of 40 messages" in shown.out
    rebuilt = parlor(capsys, "memory", "rebuild", "Tides")
    assert rebuilt.code == 0 and "embedded 40 messages" in rebuilt.err
    wrong = parlor(capsys, "memory", "again", "Tides")
    assert wrong.code == 1 and "rebuild CHAT" in wrong.err
    missing = parlor(capsys, "memory", "No such chat")
    assert missing.code == 1 and "No such chat" in missing.err
    # a short chat is embedded only once its first message leaves the context
    short = tmp_path / "Brief.jsonl"
    write_chat(short, 6)
    brief = parlor(capsys, "import", str(short))
    assert brief.code == 0 and "imported chat 'Brief'" in brief.out
    assert "memory: embedded" not in brief.out
