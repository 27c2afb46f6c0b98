"""Kill a process with SIGKILL while it streams replies; nothing committed may be lost."""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from app.storage import Database
from app.storage.repositories import ChatRepository
from tests.storage.crash_child import WORDS_PER_REPLY

CHILD = Path(__file__).with_name("crash_child.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
KILLS = 20


def _run_and_kill(db_path: Path, chat_id: int, tag: str, commits: int) -> list[str]:
    """Start the child, kill it once it has reported ``commits`` commits, return its report.

    The child does not wait for the reader, so the kill lands wherever its writing has got
    to by then: inside a later transaction, a commit or a checkpoint.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db_path), str(chat_id), tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    if ready.strip() != "READY":
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"child did not start: {ready!r} {err[-2000:]}")
    seen = [proc.stdout.readline() for _ in range(commits)]
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    assert all(line.endswith("\n") for line in seen), f"child ended early: {err[-2000:]}"
    return "".join([*seen, out]).splitlines()


def _check(db_path: Path, report: list[str], where: str) -> int:
    """The database is intact and holds at least what the child reported committed."""
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), where
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], where
        latest: dict[int, tuple[str, int]] = {}
        for line in report:
            kind, reported_id, *rest = line.split()
            latest[int(reported_id)] = (kind, int(rest[0]) if rest else 0)
        for message_id, (kind, count) in latest.items():
            row = conn.execute(
                "SELECT content, gen_info FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            assert row is not None, f"{where}: committed message {message_id} is missing"
            content, gen_info = row
            if kind == "U":
                continue
            stored = content.rstrip(".").split()
            assert stored == [f"w{i}" for i in range(len(stored))], where
            assert len(stored) >= count, f"{where}: message {message_id} lost words"
            if kind == "F":
                assert content.endswith(".") and '"finish_reason":"stop"' in gen_info, where
        return len(latest)
    finally:
        conn.close()


def test_sigkill_while_streaming_loses_nothing_committed(db: Database, tmp_path: Path) -> None:
    chats = ChatRepository(db)
    chat = chats.create_chat([], title="crash", greetings=["start"])
    db.close()
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    reported = 0
    for run in range(KILLS):
        # At least a user message and a partial reply; at most about five replies.
        commits = rng.randint(2, 5 * (WORDS_PER_REPLY + 2))
        where = f"run {run}, seed {seed}, killed after {commits} commits"
        report = _run_and_kill(db.path, chat.id, str(run), commits)
        reported += _check(db.path, report, where)
    assert reported >= 2 * KILLS, "the child committed too little to test anything"
    # The chat is still one valid path that the app can read and extend.
    path = chats.active_path(chat.id)
    assert path[0].content == "start"
    assert all(m.parent_id == p.id for p, m in itertools.pairwise(path))
