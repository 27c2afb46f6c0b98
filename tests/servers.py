"""Real servers in subprocesses for the tests: Parlor itself and llama-cpp-python's server.

Each runs on a free 127.0.0.1 port with its output in a log file; a server that dies or
does not come up fails the test with that log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.paths import REPO_ROOT

#: The API key the llama-cpp-python test server requires.
LLAMA_SERVER_KEY = "remote-test-key"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    name: str,
    command: Sequence[str],
    ready_url: str,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> Iterator[None]:
    """Run ``command`` until the block ends; ready once ``ready_url`` answers 200."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            list(command), cwd=REPO_ROOT, env=dict(env) if env is not None else None,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_until_up(name, proc, ready_url, log_path, headers or {}, timeout)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # busy in C code: it cannot stop politely
                proc.kill()
                proc.wait(timeout=30)


def _wait_until_up(
    name: str,
    proc: subprocess.Popen[bytes],
    url: str,
    log: Path,
    headers: Mapping[str, str],
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, headers=dict(headers), timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail(f"{name} did not come up:\n{log.read_text()}")


def run_parlor(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m app ARGS`` with ``home`` as its data folder, to completion."""
    env = {**os.environ, "PARLOR_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=timeout,
    )  # fmt: skip


def serve_parlor(home: Path, extra: Sequence[str], log_path: Path) -> Iterator[str]:
    """``python launch.py`` with ``home`` as its data folder; yields its base URL."""
    port = free_port()
    env = {**os.environ, "PARLOR_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "launch.py", "--port", str(port), *extra]
    with running("parlor", command, f"{base}/healthz", log_path, env=env):
        yield base


def serve_llama_cpp(model: Path, log_path: Path) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving ``model`` (key :data:`LLAMA_SERVER_KEY`)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", "2", "--n_threads_batch", "2",
        "--api_key", LLAMA_SERVER_KEY, "--verbose", "False",
    ]  # fmt: skip
    headers = {"Authorization": f"Bearer {LLAMA_SERVER_KEY}"}
    with running("llama_cpp.server", command, f"{base}/v1/models", log_path, headers=headers):
        yield base
