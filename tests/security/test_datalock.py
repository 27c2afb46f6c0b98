"""One server per data folder (issue 19, item 2): the lock on ``DATA_DIR/parlor.lock``.

A second ``parlor serve`` on a folder in use is refused at once with one line naming
the running server's port and PID; a lock file left by a killed server blocks nothing;
imports, listings and exports work beside a running server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.datalock import (
    LOCK_FILE_NAME,
    DataFolderInUse,
    DataFolderLock,
    LockHolder,
    running_server,
)
from tests.paths import REPO_ROOT
from tests.servers import free_port, run_parlor, running

#: Serve without loading a model: the lock is taken before the model would load.
NO_MODEL = ("--model", "/nonexistent/model.gguf", "--threads", "1")


def test_a_held_folder_refuses_a_second_lock_and_names_the_holder(tmp_path: Path) -> None:
    first = DataFolderLock(tmp_path / "data")
    with first.holding(port=7861):
        assert running_server(tmp_path / "data") == LockHolder(os.getpid(), 7861)
        with pytest.raises(DataFolderInUse) as refused:
            DataFolderLock(tmp_path / "data").acquire(port=7862)
        message = str(refused.value)
        assert f"PID {os.getpid()}, port 7861" in message and "\n" not in message
    assert not first.held
    assert running_server(tmp_path / "data") is None
    second = DataFolderLock(tmp_path / "data")
    second.acquire(port=7862)  # free again once released
    second.release()


def test_a_lock_file_with_garbage_in_it_blocks_nothing(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE_NAME).write_text("{not json")
    with DataFolderLock(tmp_path).holding(port=9000):
        facts = json.loads((tmp_path / LOCK_FILE_NAME).read_text())
        assert facts == {"pid": os.getpid(), "port": 9000}


@contextmanager
def parlor_server(home: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``parlor serve`` on ``home`` until it answers; yields the process and its port."""
    port = free_port()
    env = {**os.environ, "PARLOR_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), *NO_MODEL]
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=out)
    try:
        _wait_for(proc, f"http://127.0.0.1:{port}/healthz", log)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def _wait_for(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"parlor exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail(f"parlor did not come up:\n{log.read_text()}")


def test_a_second_server_on_the_same_folder_is_refused_in_one_line(
    _isolated_home: Path, tmp_path: Path
) -> None:
    with parlor_server(_isolated_home, tmp_path / "first.log") as (first, port):
        second = run_parlor(_isolated_home, "serve", "--port", str(free_port()), *NO_MODEL)
        assert second.returncode == 1, second.stderr
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert second.stderr.startswith(f"parlor: error: {_isolated_home}: in use by")
        assert f"PID {first.pid}, port {port}" in second.stderr
        assert first.poll() is None  # the first one serves on


def test_commands_work_beside_a_running_server(_isolated_home: Path, tmp_path: Path) -> None:
    card = tmp_path / "Tess.json"
    card.write_text(json.dumps({"name": "Tess", "first_mes": "Hi!"}))
    with parlor_server(_isolated_home, tmp_path / "server.log") as (_, port):
        imported = run_parlor(_isolated_home, "import", str(card))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        listed = run_parlor(_isolated_home, "list", "characters")
        assert "Tess" in listed.stdout
        out = tmp_path / "Tess.png"
        exported = run_parlor(_isolated_home, "export", "character", "Tess", "-o", str(out))
        assert exported.returncode == 0 and out.is_file()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_the_lock_of_a_killed_server_blocks_no_new_start(
    _isolated_home: Path, tmp_path: Path
) -> None:
    with parlor_server(_isolated_home, tmp_path / "killed.log") as (killed, _):
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    assert (_isolated_home / LOCK_FILE_NAME).read_text().strip()  # left behind, not cleaned
    port = free_port()
    env = {**os.environ, "PARLOR_HOME": str(_isolated_home)}
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), *NO_MODEL]
    url = f"http://127.0.0.1:{port}/healthz"
    with running("parlor", command, url, tmp_path / "next.log", env=env):
        holder = running_server(_isolated_home)
        assert holder is not None and holder.port == port and holder.pid != killed.pid
