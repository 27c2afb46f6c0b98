"""Stopping a reply the way each SillyTavern API type does, against the real SmolLM2
model over a real socket: its Node server drops the connection (every type), and for
KoboldCpp and KoboldAI Classic it also posts ``/api/extra/abort`` (no body).  Each stop
reaches only its own request (``GenerationRequest.cancel``), never the backend-wide
abort, and the model answers the next request at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.api.live import FixedModels, RecordingBackend, api_app, serve_in_thread
from tests.api.sillytavern import st_body

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

pytestmark = pytest.mark.model

#: Far more than a test waits for: a reply that is not stopped runs to this length.
LONG = 1500


@pytest.fixture(scope="module")
def url(recorder: RecordingBackend) -> Iterator[str]:
    with serve_in_thread(api_app(FixedModels(recorder))) as base:
        yield base


def _long(name: str) -> dict[str, Any]:
    """A fixture body that cannot end by itself before ``LONG`` tokens."""
    return st_body(
        name,
        stream=True,
        max_tokens=LONG,
        max_new_tokens=LONG,
        n_predict=LONG,
        max_length=LONG,
        ban_eos_token=True,
        ignore_eos=True,
        stop=[],
        stopping_strings=[],
        stop_sequence=[],
        truncation_length=4096,
        max_context_length=4096,
    )


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``condition`` (``timeout`` only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _stop_after_first_text(
    url: str, path: str, body: dict[str, Any], stop: Callable[[], None]
) -> list[str]:
    """Stream ``body``, call ``stop`` once text has come, read on to the end (or leave)."""
    lines: list[str] = []
    with httpx.stream("POST", f"{url}{path}", json=body, timeout=120) as response:
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("data: ") and len(lines) > 2:
                stop()
                if stop is _disconnect:
                    break
    return lines


def _abort(url: str, genkey: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(
        f"{url}/api/extra/abort", json={"genkey": genkey}, timeout=30
    ).json()
    return answer


def _disconnect() -> None:
    """Leaving the ``with`` block closes the connection, as SillyTavern's server does."""


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("ooba", "/v1/completions"),
        ("vllm", "/v1/completions"),
        ("tabby", "/v1/completions"),
        ("koboldcpp", "/v1/completions"),
        ("llamacpp", "/completion"),
        ("kobold", "/api/extra/generate/stream"),
    ],
)
def test_a_dropped_connection_stops_only_that_reply(
    url: str, recorder: RecordingBackend, smollm: LlamaCppBackend, name: str, path: str
) -> None:
    started = len(recorder.requests)
    _stop_after_first_text(url, path, _long(name), _disconnect)
    _wait_for(lambda: recorder.ended == len(recorder.requests) > started)
    assert recorder.requests[-1].cancel.is_set(), "the request's own stop was not set"
    assert 0 < recorder.deltas[-1] < LONG
    assert not smollm._abort.is_set(), "a stop must not be the backend-wide abort"


@pytest.mark.parametrize(
    ("name", "path"),
    [("koboldcpp", "/v1/completions"), ("kobold", "/api/extra/generate/stream")],
)
def test_api_extra_abort_stops_the_reply_in_flight(
    url: str, recorder: RecordingBackend, name: str, path: str
) -> None:
    """SillyTavern posts ``/api/extra/abort`` with no body; the stream then ends."""
    answers: list[dict[str, Any]] = []

    def abort() -> None:
        if not answers:
            answers.append(httpx.post(f"{url}/api/extra/abort", timeout=30).json())

    lines = _stop_after_first_text(url, path, _long(name), abort)
    assert answers == [{"success": "true", "done": "true"}]
    assert recorder.finished[-1].finish_reason == "aborted"
    assert recorder.finished[-1].stats.completion_tokens < LONG
    last = [line for line in lines if line.startswith("data: ")][-1]
    assert '"finish_reason": "length"' in last or "[DONE]" in last or "abort" in last


def test_genkey_abort_stops_only_its_own_request(url: str, recorder: RecordingBackend) -> None:
    """KoboldCpp's multi-user abort: a ``genkey`` names the request to stop; another
    key stops nothing, and ``/api/extra/generate/check`` shows the text so far."""
    body = {**_long("kobold"), "genkey": "KCPP1234"}
    checks: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []

    def abort() -> None:
        if answers:
            return
        other = httpx.post(f"{url}/api/extra/abort", json={"genkey": "other"}, timeout=30)
        checks.append(
            httpx.post(f"{url}/api/extra/generate/check", json={"genkey": "KCPP1234"}).json()
        )
        answers.append(other.json())
        answers.append(
            httpx.post(f"{url}/api/extra/abort", json={"genkey": "KCPP1234"}, timeout=30).json()
        )

    _stop_after_first_text(url, "/api/extra/generate/stream", body, abort)
    assert answers == [{"success": "false", "done": "false"}, {"success": "true", "done": "true"}]
    assert checks[0]["results"][0]["text"]
    assert recorder.finished[-1].finish_reason == "aborted"


def test_an_abort_before_the_turn_comes_stops_the_queued_request(
    url: str, recorder: RecordingBackend
) -> None:
    """KoboldCpp's deferred abort: a request still waiting for the model never runs."""
    first = {**_long("kobold"), "genkey": "RUNNING"}
    queued = {**st_body("kobold"), "genkey": "QUEUED"}
    results: list[dict[str, Any]] = []
    waiter = threading.Thread(
        target=lambda: results.append(
            httpx.post(f"{url}/api/v1/generate", json=queued, timeout=120).json()
        )
    )

    def abort_both() -> None:
        if waiter.is_alive() or results:
            return
        waiter.start()
        # an abort succeeds once the server knows the key: the request is waiting
        _wait_for(lambda: _abort(url, "QUEUED")["success"] == "true")
        _abort(url, "RUNNING")

    _stop_after_first_text(url, "/api/extra/generate/stream", first, abort_both)
    waiter.join(timeout=120)
    assert results and results[0]["results"][0]["text"] == ""
