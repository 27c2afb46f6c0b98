"""The remote backend: against llama-cpp-python's own server, and against scripted HTTP."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest

from app.engine.base import Finished, GenerationEvent, GenerationRequest, TextDelta
from app.engine.remote import RemoteBackend, api_root
from app.engine.sampling import SamplerSettings
from app.errors import RemoteBackendError, RemoteRateLimited
from tests.api.live import FixedModels, api_app, serve_in_thread
from tests.servers import LLAMA_SERVER_KEY, free_port

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

KEY = LLAMA_SERVER_KEY
CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
GREEDY = SamplerSettings(temperature=0)


def run(backend: RemoteBackend, request: GenerationRequest) -> tuple[list[str], Finished]:
    deltas: list[str] = []
    finished: Finished | None = None
    for event in backend.stream(request):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            finished = event
    assert finished is not None
    return deltas, finished


# -- against `python -m llama_cpp.server` ----------------------------------------------


@pytest.mark.model
def test_completions_mode_matches_the_local_model(
    llama_server: str, smollm: LlamaCppBackend, smollm_path: Path
) -> None:
    backend = RemoteBackend(llama_server, api_key=KEY, mode="completions")
    backend.probe()
    assert backend.info.name == str(smollm_path)  # the server's first model
    assert backend.tokenizer == "llama-cpp-python"
    prompt = CHATML.format("Name three colours.")
    assert backend.count_tokens(prompt) == smollm.count_tokens(prompt)
    request = GenerationRequest(smollm.tokenize(prompt), GREEDY, 8, prompt_text=prompt)
    deltas, finished = run(backend, request)
    *_, local = list(smollm.stream(request))
    assert isinstance(local, Finished)
    assert finished.finish_reason == local.finish_reason == "length"
    assert "".join(deltas) == finished.text == local.text
    assert finished.stats.completion_tokens == 8
    backend.close()


@pytest.mark.model
def test_chat_mode_sends_the_messages(llama_server: str) -> None:
    backend = RemoteBackend(f"{llama_server}/v1/", api_key=KEY, mode="chat")
    messages = (("system", "You are terse."), ("user", "Say hello."))
    request = GenerationRequest([0], GREEDY, 6, messages=messages)
    deltas, finished = run(backend, request)
    assert finished.finish_reason in ("stop", "length") and finished.error is None
    assert deltas and "".join(deltas) == finished.text
    assert finished.stats.completion_tokens > 0
    backend.close()


@pytest.mark.model
def test_wrong_key_is_reported_clearly(llama_server: str) -> None:
    backend = RemoteBackend(llama_server, api_key="wrong")
    with pytest.raises(RemoteBackendError, match=r"refused the API key \(401\)"):
        backend.probe()
    request = GenerationRequest([0], GREEDY, 4, prompt_text="Hi")
    with pytest.raises(RemoteBackendError, match=r"refused the API key \(401\)"):
        run(backend, request)


@pytest.mark.model
def test_parlor_api_over_the_remote_backend(llama_server: str) -> None:
    """openai client → Parlor's API → RemoteBackend (completions) → llama_cpp.server."""
    remote = RemoteBackend(llama_server, api_key=KEY, mode="completions")
    remote.probe()
    with serve_in_thread(api_app(FixedModels(remote))) as url:
        api = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)
        chunks = list(
            api.chat.completions.create(
                model="any",
                messages=[{"role": "user", "content": "Say hello."}],
                max_tokens=5,
                temperature=0,
                stream=True,
            )
        )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    remote.close()


# -- against scripted HTTP ---------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(handler: Handler, **kwargs: Any) -> RemoteBackend:
    return RemoteBackend(
        "http://remote.test:8080", transport=httpx.MockTransport(handler), timeout=5, **kwargs
    )


def sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    frames = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return "".join(frames + (["data: [DONE]\n\n"] if done else [])).encode()


def text_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "text": text, "finish_reason": finish}]}


class BreakingStream(httpx.SyncByteStream):
    """Sends ``head``, then the connection breaks."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def test_completions_payload_carries_every_sampler() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        assert request.url.path == "/v1/completions"
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(200, content=sse(text_chunk("Hi", "stop")))

    settings = SamplerSettings(
        temperature=0.7, min_p=0.05, dry_multiplier=0.8, seed=3, banned_tokens=(9,)
    )
    request = GenerationRequest(
        [1], settings, 20, ("\nUser:",), grammar='root ::= "Hi"', prompt_text="P"
    )
    deltas, finished = run(scripted(handler, api_key="k", model="m"), request)
    body = sent[0]
    assert (deltas, finished.text, finished.finish_reason) == (["Hi"], "Hi", "stop")
    assert body["prompt"] == "P" and body["model"] == "m" and body["stream"] is True
    assert body["max_tokens"] == 20 and body["stop"] == ["\nUser:"] and body["seed"] == 3
    assert (body["temperature"], body["min_p"], body["top_k"]) == (0.7, 0.05, 0)
    assert body["dry_multiplier"] == 0.8 and body["xtc_probability"] == 0.0
    assert body["logit_bias"] == {"9": -100.0}
    assert body["grammar"] == 'root ::= "Hi"'
    assert body["samplers"][:4] == ["penalties", "dry", "top_n_sigma", "top_k"]
    assert "typ_p" in body["samplers"]


def test_chat_payload_sends_only_switched_on_extensions() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        assert request.url.path == "/v1/chat/completions"
        chunk = {"choices": [{"index": 0, "delta": {"content": "Yo"}, "finish_reason": "length"}]}
        usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 1}}
        return httpx.Response(200, content=sse(chunk, usage))

    messages = (("system", "S"), ("user", "U"))
    request = GenerationRequest([0], SamplerSettings(min_p=0.1), 5, messages=messages)
    _deltas, finished = run(scripted(handler, mode="chat"), request)
    body = sent[0]
    assert body["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
    ]
    assert body["min_p"] == 0.1
    assert not {"top_k", "samplers", "dry_multiplier", "mirostat", "grammar"} & set(body)
    assert (finished.text, finished.finish_reason) == ("Yo", "length")
    assert (finished.stats.prompt_tokens, finished.stats.completion_tokens) == (7, 1)


def test_rate_limit_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"message": "slow down"}})

    with pytest.raises(RemoteRateLimited, match=r"rate limited \(429\): slow down") as caught:
        run(scripted(handler), GenerationRequest([0], prompt_text="Hi"))
    assert caught.value.code == "remote_rate_limited"


def test_timeout_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with pytest.raises(RemoteBackendError, match="timed out after 5 s"):
        run(scripted(handler), GenerationRequest([0], prompt_text="Hi"))


def test_dropped_stream_keeps_the_partial_reply() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=BreakingStream(sse(text_chunk("Hello"), done=False)))

    deltas, finished = run(scripted(handler), GenerationRequest([0], prompt_text="Hi"))
    assert deltas == ["Hello"] and finished.text == "Hello"
    assert finished.finish_reason == "error"
    assert finished.error is not None and "stream dropped after 5 characters" in finished.error


def test_stream_ending_without_a_finish_is_dropped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse(text_chunk("Hel"), done=False))

    _deltas, finished = run(scripted(handler), GenerationRequest([0], prompt_text="Hi"))
    assert (finished.finish_reason, finished.text) == ("error", "Hel")
    assert finished.error == "http://remote.test:8080/v1: stream dropped after 3 characters"


def test_error_frame_mid_stream() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = sse(text_chunk("Par"), {"error": {"message": "out of memory"}})
        return httpx.Response(200, content=body)

    _deltas, finished = run(scripted(handler), GenerationRequest([0], prompt_text="Hi"))
    assert (finished.finish_reason, finished.text) == ("error", "Par")
    assert finished.error is not None and "out of memory" in finished.error


def test_local_stop_strings_and_abort() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse(text_chunk("Hi.\nUs"), text_chunk("er: more")))

    _deltas, finished = run(
        scripted(handler), GenerationRequest([0], stop=("\nUser:",), prompt_text="x")
    )
    assert (finished.text, finished.finish_reason) == ("Hi.", "stop")

    backend = scripted(lambda r: httpx.Response(200, content=sse(*[text_chunk("a")] * 50)))
    events: list[GenerationEvent] = []
    for event in backend.stream(GenerationRequest([0], prompt_text="x")):
        events.append(event)
        backend.abort()
    last = events[-1]
    assert isinstance(last, Finished) and last.finish_reason == "aborted" and last.text == "a"


class SilentServer:
    """A real HTTP server that answers a streamed POST with headers, then says nothing
    (a server still evaluating a long prompt); it notes when the client hangs up."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.client_left = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            conn.settimeout(30)
            received = b""
            while b"\r\n\r\n" not in received:  # the whole request, then the answer
                received += conn.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += conn.recv(65536)
            status = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            conn.sendall(f"{status}Transfer-Encoding: chunked\r\n\r\n".encode())
            self.answered.set()
            with contextlib.suppress(OSError):  # a reset also means the client left
                while conn.recv(65536):
                    pass
            self.client_left.set()  # end of file (or reset): the client shut the connection

    def close(self) -> None:
        self._sock.close()


def test_stop_while_the_server_is_still_reading_the_prompt() -> None:
    server = SilentServer()
    backend = RemoteBackend(server.url, timeout=60)
    request = GenerationRequest([0], prompt_text="a very long prompt")
    ends: list[GenerationEvent] = []
    worker = threading.Thread(target=lambda: ends.extend(backend.stream(request)))
    worker.start()
    assert server.answered.wait(10)
    request.cancel.set()
    worker.join(10)
    assert not worker.is_alive(), "the stop waited for the server's next chunk"
    assert len(ends) == 1 and isinstance(ends[0], Finished)
    assert ends[0].finish_reason == "aborted" and ends[0].text == ""
    assert server.client_left.wait(10), "the server was not told that the client left"
    backend.close()
    server.close()


def test_tokenizer_fallback_is_an_estimate() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    backend = scripted(handler)
    assert backend.count_tokens("abcdefghi") == 3
    assert backend.tokenizer == "estimate"
    assert "token counts estimated" in backend.info.architecture
    with pytest.raises(RemoteBackendError, match="no detokenize endpoint"):
        backend.detokenize([1, 2])


def test_probe_reads_a_llama_server() -> None:
    answers: dict[str, dict[str, Any]] = {
        "/v1/models": {"data": [{"id": "qwen-7b"}, {"id": "other"}]},
        "/props": {"default_generation_settings": {"n_ctx": 4096}},
        "/tokenize": {"tokens": [5, 6]},
        "/detokenize": {"content": "ab"},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.path])

    backend = scripted(handler)
    backend.probe()
    assert (backend.info.name, backend.info.n_ctx, backend.tokenizer) == (
        "qwen-7b",
        4096,
        "llama-server",
    )
    assert backend.tokenize("ab") == [5, 6]
    assert backend.detokenize([5, 6]) == "ab"


def test_unreachable_server() -> None:
    backend = RemoteBackend(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(RemoteBackendError, match="cannot reach the server"):
        run(backend, GenerationRequest([0], prompt_text="Hi"))


def test_api_root() -> None:
    assert api_root("http://h:1/") == "http://h:1/v1"
    assert api_root(" https://h/v1/ ") == "https://h/v1"
    with pytest.raises(RemoteBackendError, match="must start with http"):
        api_root("h:1")
