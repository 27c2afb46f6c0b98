"""The API with scripted backends: queue, disconnects, errors, extensions.

In process (starlette's TestClient, with the official ``openai`` client on top) except
where the test is about sockets: a stream through a real server and clients that hang up.
Nothing here measures time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import openai
import pytest
from fastapi import FastAPI
from openai.types.chat import ChatCompletionMessageParam
from starlette.testclient import TestClient

from app.api.gate import GenerationGate
from app.api.router import install_api
from app.context import AppContext, build_context
from app.engine.base import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    TextDelta,
)
from app.engine.fake import FakeBackend
from app.engine.sampling import SamplerSettings
from app.errors import RemoteBackendError
from app.presets.library import PresetLibrary
from app.settings import Settings
from tests.api.live import FixedModels, api_app, openai_client, serve_in_thread

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
ABORTED = Finished("aborted", "", GenerationStats(1, 0, 0, 0, 0.0, 0.0, 0))


def client(url: str, key: str = "unused") -> openai.OpenAI:
    """The official client over a real socket."""
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def http(backend: FakeBackend) -> Iterator[TestClient]:
    """The API over ``backend``, in process."""
    with TestClient(api_app(FixedModels(backend))) as test_client:
        yield test_client


@pytest.fixture
def context(_isolated_home: Path) -> Iterator[AppContext]:
    """The real composition root (starter cast, presets) with a fake backend installed."""
    ctx = build_context(Settings.load(data_dir=_isolated_home), load_model=False)
    ctx.models.use(FakeBackend())
    yield ctx
    ctx.close()


def context_client(context: AppContext) -> TestClient:
    """The API of ``context`` (its own serving object), without the Gradio UI."""
    app = FastAPI()
    install_api(app, context.openai_serving, context.native_serving)
    return TestClient(app)


def sent_request(context: AppContext) -> GenerationRequest:
    backend = context.models.current()
    assert isinstance(backend, FakeBackend)
    return backend.requests[-1]


class StallingBackend(FakeBackend):
    """Streams ``chunks`` pieces, then stalls until its request is cancelled; once
    ``stall`` is cleared it replies as the plain fake does."""

    def __init__(self, chunks: int) -> None:
        super().__init__()
        self.chunks = chunks
        self.stall = True
        self.produced = 0
        self.cancelled = threading.Event()
        self.closed = threading.Event()

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        if not self.stall:
            yield from super().stream(request)
            return
        self.requests.append(request)
        try:
            for _ in range(self.chunks):
                self.produced += 1
                yield TextDelta("x")
            if request.cancel.wait(30):
                self.cancelled.set()
            yield ABORTED
        finally:
            self.closed.set()


class FailingBackend(FakeBackend):
    """Sends some text, then fails as a dropped remote stream does."""

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        self.requests.append(request)
        yield TextDelta("partial")
        raise RemoteBackendError("http://remote/v1: stream dropped after 7 characters")


# -- over a real socket ---------------------------------------------------------------------


def test_sse_contract_over_http() -> None:
    backend = FakeBackend()
    backend.enqueue(["Hel", "lo"])
    body = {"messages": HI, "stream": True, "stream_options": {"include_usage": True}}
    with (
        serve_in_thread(api_app(FixedModels(backend))) as url,
        httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    frames = raw.split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    assert '"delta":{"role":"assistant","content":""}' in frames[0]
    assert '"content":"Hel"' in frames[1] and '"content":"lo"' in frames[2]
    assert '"finish_reason":"stop"' in frames[3]
    assert '"choices":[]' in frames[4] and '"usage":{' in frames[4]
    assert len(frames) == 7


def test_client_disconnect_stops_the_generation() -> None:
    backend = StallingBackend(chunks=5)
    body = {"messages": HI, "stream": True}
    with serve_in_thread(api_app(FixedModels(backend))) as url:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            lines = response.iter_lines()
            seen = [next(lines) for _ in range(3)]
        assert any('"content":"x"' in line for line in seen)
        assert backend.closed.wait(30), "the backend's stream was never closed"
        # The request's own stop was set: the stream ends wherever it was (stalled, or
        # still between chunks when the pump let go of it).
        assert backend.requests[-1].cancel.is_set(), "the generation was never cancelled"
        assert not backend._abort.is_set(), "a disconnect must not stop every generation"
        backend.stall = False
        backend.enqueue(["next"])  # the backend is free again
        reply = client(url).chat.completions.create(model="m", messages=HI)
    assert reply.choices[0].message.content == "next"


class SlowPromptBackend(FakeBackend):
    """Spends up to 30 s "evaluating the prompt" unless cancelled, like llama.cpp does.

    A backend-wide ``abort`` would also stop a UI reply on the same model: it must not be
    what the API uses.
    """

    def __init__(self) -> None:
        super().__init__()
        self.aborted = threading.Event()
        self.backend_wide_aborts = 0

    def abort(self) -> None:
        self.backend_wide_aborts += 1

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        if request.cancel.wait(30):
            self.aborted.set()
        yield ABORTED


def test_disconnect_during_prompt_evaluation_aborts_it() -> None:
    backend = SlowPromptBackend()
    body = {"messages": HI}
    with serve_in_thread(api_app(FixedModels(backend))) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/chat/completions", json=body, timeout=0.5)
        assert backend.aborted.wait(30), "the prompt evaluation was never cancelled"
    assert backend.backend_wide_aborts == 0


# -- in process -----------------------------------------------------------------------------


def test_full_queue_answers_429() -> None:
    backend = FakeBackend()
    release = threading.Event()
    backend.chunk_gate = release
    gate = GenerationGate(max_waiting=1)
    replies: list[str | None] = []

    with TestClient(api_app(FixedModels(backend), gate=gate)) as http:
        api = openai_client(http)

        def ask() -> None:
            reply = api.chat.completions.create(model="m", messages=HI)
            replies.append(reply.choices[0].message.content)

        first = threading.Thread(target=ask)
        first.start()
        _wait_for(lambda: len(backend.requests) == 1)
        second = threading.Thread(target=ask)
        second.start()
        _wait_for(lambda: gate.waiting == 1)
        with pytest.raises(openai.RateLimitError) as caught:
            api.chat.completions.create(model="m", messages=HI)
        release.set()
        first.join(30)
        second.join(30)
    assert caught.value.code == "queue_full"
    assert "generation queue" in caught.value.message
    assert replies == ["fake reply", "fake reply"]


def test_api_key_is_required_when_set() -> None:
    with TestClient(api_app(FixedModels(FakeBackend()), api_key="sekrit")) as http:
        with pytest.raises(openai.AuthenticationError) as caught:
            openai_client(http, "wrong").models.list()
        bare = http.post("/tokenize", json={"content": "a"})
        listed = openai_client(http, "sekrit").models.list()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    assert bare.json()["error"]["type"] == "authentication_error"  # llama.cpp's shape
    assert [m.id for m in listed.data] == ["fake"]


def test_error_mid_stream_reaches_the_client() -> None:
    with TestClient(api_app(FixedModels(FailingBackend()))) as http:
        api = openai_client(http)
        stream = api.chat.completions.create(model="m", messages=HI, stream=True)
        got: list[str] = []
        with pytest.raises(openai.APIError, match="stream dropped after 7 characters"):
            for chunk in stream:
                got.append(chunk.choices[0].delta.content or "")
        with pytest.raises(openai.InternalServerError) as caught:
            api.chat.completions.create(model="m", messages=HI)
    assert "".join(got) == "partial"
    assert caught.value.status_code == 502


def test_model_template_names_and_defaults(backend: FakeBackend, http: TestClient) -> None:
    template = (
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    backend._info = replace(backend.info, chat_template=template)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "developer", "content": "Be kind."},
        {"role": "user", "content": "hi", "name": "Ann"},
    ]
    openai_client(http).chat.completions.create(
        model="m",
        messages=messages,
        stop="END",
        response_format={"type": "json_object"},
    )
    sent = backend.requests[-1]
    assert sent.prompt_text == "[system]Be kind.[user]Ann: hi[assistant]"
    assert backend.detokenize(sent.prompt_tokens) == sent.prompt_text
    assert sent.messages == (("system", "Be kind."), ("user", "Ann: hi"))
    assert sent.sampler == SamplerSettings()  # OpenAI defaults: every sampler neutral
    assert sent.max_new_tokens == 4096 - len(sent.prompt_tokens)
    assert sent.stop == ("END",)
    assert sent.grammar is not None and "root ::= object" in sent.grammar


def test_character_extension_uses_the_chat_layer(context: AppContext) -> None:
    with context_client(context) as http:
        api = openai_client(http)
        api.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Status?", "name": "Ada"}],
            temperature=0.3,
            stop=["\nNarrator:", "\nAda:"],
            extra_body={"character": "hesper", "preset": "Stheno"},
        )
        sent = sent_request(context)
        with pytest.raises(openai.NotFoundError, match="no character named 'Nobody'"):
            api.chat.completions.create(model="m", messages=HI, extra_body={"character": "Nobody"})
        with pytest.raises(openai.NotFoundError, match="Nope"):
            api.chat.completions.create(
                model="m", messages=HI, extra_body={"character": "hesper", "preset": "Nope"}
            )
    assert sent.prompt_text is not None
    assert "Ada: Status?" in sent.prompt_text and sent.prompt_text.endswith("HESPER:")
    assert sent.sampler.temperature == 0.3  # the request's value wins
    assert sent.sampler.top_k == 50  # the named preset (Stheno) fills the rest
    assert sent.stop[:2] == ("\nNarrator:", "\nAda:")  # the request's stops first
    assert sent.stop.count("\nAda:") == 1  # and the prompt's own, merged once


def test_character_prompt_in_remote_chat_mode_sends_the_characters_messages(
    context: AppContext,
) -> None:
    """Issue 13, item 18: a chat-completions server gets the card and the turns."""
    with context_client(context) as http:
        openai_client(http).chat.completions.create(
            model="m",
            messages=[
                {"role": "user", "content": "Status?", "name": "Ada"},
                {"role": "assistant", "content": "Nominal."},
                {"role": "user", "content": "Good.", "name": "Ada"},
            ],
            extra_body={"character": "HESPER"},
        )
    messages = sent_request(context).messages
    assert messages is not None
    role, system = messages[0]
    assert role == "system" and "Shipboard Personality" in system  # HESPER's card
    assert messages[1:] == (("user", "Status?"), ("assistant", "Nominal."), ("user", "Good."))


def test_a_chat_mode_system_message_has_its_macros_filled_in(context: AppContext) -> None:
    """The card's {{char}} and {{user}} reach a chat-completions server as names."""
    with context_client(context) as http:
        openai_client(http).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Hello.", "name": "Ada"}],
            extra_body={"character": "Ysolde Marrow"},
        )
    messages = sent_request(context).messages
    assert messages is not None
    system = messages[0][1]
    assert "{{" not in system and "Ysolde Marrow is the last sworn archivist" in system
    assert "hired Ada as a diving assistant" in system
    character = context.library.find("Ysolde Marrow")
    chat = context.chat.new_chat(character.id)
    backend = context.models.current()
    assert isinstance(backend, FakeBackend)
    backend.enqueue(["Welcome."])
    for _ in context.chat.send(chat.id, "Hi"):
        pass
    from_ui = backend.requests[-1].messages
    assert from_ui is not None and "{{" not in from_ui[0][1]


def test_ui_turn_and_api_character_prompt_build_the_same_request(context: AppContext) -> None:
    """One request builder: the UI's turn and the API's character prompt agree."""
    character = context.library.find("HESPER")
    chat = context.chat.new_chat(character.id)
    backend = context.models.current()
    assert isinstance(backend, FakeBackend)
    backend.enqueue(["Nominal."])
    for _ in context.chat.send(chat.id, "Status?"):
        pass
    from_ui = backend.requests[-1]
    greeting = context.chat.view(chat.id).messages[0].message
    turns: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Status?"}]
    if greeting.role.value == "assistant":
        turns.insert(0, {"role": "assistant", "content": greeting.content})
    with context_client(context) as http:
        openai_client(http).chat.completions.create(
            model="m", messages=turns, extra_body={"character": "HESPER"}
        )
    from_api = backend.requests[-1]
    assert from_api.stop == from_ui.stop
    assert from_api.sampler == from_ui.sampler
    assert from_api.max_new_tokens == from_ui.max_new_tokens
    assert from_api.messages is not None and from_ui.messages is not None
    assert from_api.messages[0] == from_ui.messages[0]


def test_character_without_a_chat_layer_is_a_400(http: TestClient) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(http).chat.completions.create(
            model="m",
            messages=HI,
            extra_body={"character": "Seraphina"},
        )
    assert caught.value.param == "character"
    assert "character prompts are unavailable" in caught.value.message


def test_preset_extension(tmp_path: Path) -> None:
    (tmp_path / "Tight.yaml").write_text(
        "temperature: 0.4\nmin_p: 0.2\nmax_new_tokens: 33\nstop: ['END']\n", encoding="utf-8"
    )
    backend = FakeBackend()
    app = api_app(FixedModels(backend), presets=PresetLibrary([tmp_path]))
    with TestClient(app) as http:
        api = openai_client(http)
        api.completions.create(model="m", prompt="Once", extra_body={"preset": "Tight"})
        with pytest.raises(openai.NotFoundError):
            api.completions.create(model="m", prompt="Once", extra_body={"preset": "Nope"})
    sent = backend.requests[-1]
    assert (sent.sampler.temperature, sent.sampler.min_p) == (0.4, 0.2)
    assert sent.max_new_tokens == 33 and sent.stop == ("END",)
    assert sent.prompt_text == "Once"


def test_errors_are_openai_shaped() -> None:
    with TestClient(api_app(FixedModels(FakeBackend(n_ctx=64)))) as http:
        broken = http.post(
            "/v1/chat/completions",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        with pytest.raises(openai.BadRequestError) as too_long:
            openai_client(http).chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "word " * 50}],
            )
        bad_tokens = http.post("/v1/completions", json={"prompt": ["a", "b"]})
    assert broken.status_code == 400
    assert set(broken.json()["error"]) == {"message", "type", "param", "code"}
    assert too_long.value.code == "context_length_exceeded"
    assert "context window of 64 tokens" in too_long.value.message
    assert bad_tokens.status_code == 400
    assert bad_tokens.json()["error"]["param"] == "prompt"


def test_no_model_loaded() -> None:
    with TestClient(api_app(FixedModels(None))) as http:
        api = openai_client(http)
        listed = api.models.list()
        with pytest.raises(openai.InternalServerError) as caught:
            api.chat.completions.create(model="m", messages=HI)
    assert listed.data == []
    assert caught.value.status_code == 503 and caught.value.code == "model_not_loaded"


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (``timeout`` only guards against a hang)."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
