"""The API over real HTTP with scripted backends: queue, disconnects, errors, extensions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from app.api.gate import GenerationGate
from app.chat.api_prompts import ApiMessage, RenderedPrompt
from app.engine.base import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    TextDelta,
)
from app.engine.fake import FakeBackend
from app.engine.sampling import SamplerSettings
from app.errors import NotFound, RemoteBackendError
from app.presets.library import PresetLibrary
from tests.api.live import FixedModels, api_app, serve_in_thread

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


class CountingBackend(FakeBackend):
    """A fake that is slow per chunk and records the pieces produced and closing."""

    def __init__(self) -> None:
        super().__init__()
        self.produced = 0
        self.closed = threading.Event()

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        try:
            for event in super().stream(request):
                if isinstance(event, TextDelta):
                    self.produced += 1
                    time.sleep(0.02)
                yield event
        finally:
            self.closed.set()


class FailingBackend(FakeBackend):
    """Sends some text, then fails as a dropped remote stream does."""

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        self.requests.append(request)
        yield TextDelta("partial")
        raise RemoteBackendError("http://remote/v1: stream dropped after 7 characters")


class StubCharacters:
    """A CharacterPrompts that knows one character."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, list[ApiMessage]]] = []

    def render_for_api(
        self, character: str, preset: str | None, messages: Sequence[ApiMessage]
    ) -> RenderedPrompt:
        self.calls.append((character, preset, list(messages)))
        if character != "Seraphina":
            raise NotFound("character", character)
        return RenderedPrompt(
            "<story>Seraphina tends the glade.</story>\n",
            stop=("\nYou:",),
            sampler=SamplerSettings(temperature=0.9, min_p=0.1),
            max_new_tokens=42,
            messages=(("system", "Seraphina's card"), ("user", "hi")),
        )


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
    backend = CountingBackend()
    backend.enqueue(["x"] * 500)
    body = {"messages": HI, "stream": True}
    with serve_in_thread(api_app(FixedModels(backend))) as url:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            lines = response.iter_lines()
            seen = [next(lines) for _ in range(5)]
        assert any('"content":"x"' in line for line in seen)
        assert backend.closed.wait(5), "the backend's stream was never closed"
        assert backend.produced < 100
        backend.enqueue(["next"])  # the backend is free again
        reply = client(url).chat.completions.create(model="m", messages=HI)
    assert reply.choices[0].message.content == "next"


class SlowPromptBackend(FakeBackend):
    """Spends up to 20 s "evaluating the prompt" unless cancelled, like llama.cpp does.

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
        if request.cancel.wait(20):
            self.aborted.set()
        yield Finished("aborted", "", GenerationStats(1, 0, 0, 0, 0.0, 0.0, 0))


def test_disconnect_during_prompt_evaluation_aborts_it() -> None:
    backend = SlowPromptBackend()
    body = {"messages": HI}
    with serve_in_thread(api_app(FixedModels(backend))) as url:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/chat/completions", json=body, timeout=0.5)
        assert backend.aborted.wait(5)
    assert time.monotonic() - started < 6
    assert backend.backend_wide_aborts == 0


def test_full_queue_answers_429() -> None:
    backend = FakeBackend()
    release = threading.Event()
    backend.chunk_gate = release
    gate = GenerationGate(max_waiting=1)
    replies: list[str | None] = []

    def ask(url: str) -> None:
        reply = client(url).chat.completions.create(model="m", messages=HI)
        replies.append(reply.choices[0].message.content)

    with serve_in_thread(api_app(FixedModels(backend), gate=gate)) as url:
        first = threading.Thread(target=ask, args=(url,))
        first.start()
        _wait_for(lambda: len(backend.requests) == 1)
        second = threading.Thread(target=ask, args=(url,))
        second.start()
        _wait_for(lambda: gate.waiting == 1)
        with pytest.raises(openai.RateLimitError) as caught:
            client(url).chat.completions.create(model="m", messages=HI)
        release.set()
        first.join(10)
        second.join(10)
    assert caught.value.code == "queue_full"
    assert "generation queue" in caught.value.message
    assert replies == ["fake reply", "fake reply"]


def test_api_key_is_required_when_set() -> None:
    with serve_in_thread(api_app(FixedModels(FakeBackend()), api_key="sekrit")) as url:
        with pytest.raises(openai.AuthenticationError) as caught:
            client(url, "wrong").models.list()
        bare = httpx.post(f"{url}/tokenize", json={"content": "a"})
        listed = client(url, "sekrit").models.list()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert bare.status_code == 401
    assert bare.json()["error"]["type"] == "invalid_request_error"
    assert [m.id for m in listed.data] == ["fake"]


def test_error_mid_stream_reaches_the_client() -> None:
    backend = FailingBackend()
    with serve_in_thread(api_app(FixedModels(backend))) as url:
        api = client(url)
        stream = api.chat.completions.create(model="m", messages=HI, stream=True)
        got: list[str] = []
        with pytest.raises(openai.APIError, match="stream dropped after 7 characters"):
            for chunk in stream:
                got.append(chunk.choices[0].delta.content or "")
        with pytest.raises(openai.InternalServerError) as caught:
            api.chat.completions.create(model="m", messages=HI)
    assert "".join(got) == "partial"
    assert caught.value.status_code == 502


def test_model_template_names_and_defaults() -> None:
    backend = FakeBackend()
    template = (
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    backend._info = replace(backend.info, chat_template=template)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "developer", "content": "Be kind."},
        {"role": "user", "content": "hi", "name": "Ann"},
    ]
    with serve_in_thread(api_app(FixedModels(backend))) as url:
        client(url).chat.completions.create(
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


def test_character_extension_uses_the_chat_layer() -> None:
    backend, characters = FakeBackend(), StubCharacters()
    app = api_app(FixedModels(backend), characters=characters)
    with serve_in_thread(app) as url:
        api = client(url)
        api.chat.completions.create(
            model="m",
            messages=HI,
            temperature=0.3,
            stop=["\nNarrator:"],
            extra_body={"character": "Seraphina", "preset": "Universal-Light"},
        )
        with pytest.raises(openai.NotFoundError, match="no character named 'Nobody'"):
            api.chat.completions.create(
                model="m",
                messages=HI,
                extra_body={"character": "Nobody"},
            )
    assert characters.calls[0] == ("Seraphina", "Universal-Light", [ApiMessage("user", "hi")])
    sent = backend.requests[-1]
    assert sent.prompt_text == "<story>Seraphina tends the glade.</story>\n"
    assert sent.sampler.temperature == 0.3  # the request's value wins
    assert sent.sampler.min_p == 0.1  # the character's preset fills the rest
    assert sent.max_new_tokens == 42
    assert sent.stop == ("\nNarrator:", "\nYou:")
    assert sent.messages == (("system", "Seraphina's card"), ("user", "hi"))


def test_character_without_a_chat_layer_is_a_400() -> None:
    with (
        serve_in_thread(api_app(FixedModels(FakeBackend()))) as url,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        client(url).chat.completions.create(
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
    with serve_in_thread(app) as url:
        api = client(url)
        api.completions.create(model="m", prompt="Once", extra_body={"preset": "Tight"})
        with pytest.raises(openai.NotFoundError):
            api.completions.create(model="m", prompt="Once", extra_body={"preset": "Nope"})
    sent = backend.requests[-1]
    assert (sent.sampler.temperature, sent.sampler.min_p) == (0.4, 0.2)
    assert sent.max_new_tokens == 33 and sent.stop == ("END",)
    assert sent.prompt_text == "Once"


def test_errors_are_openai_shaped() -> None:
    with serve_in_thread(api_app(FixedModels(FakeBackend(n_ctx=64)))) as url:
        broken = httpx.post(
            f"{url}/v1/chat/completions",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        with pytest.raises(openai.BadRequestError) as too_long:
            client(url).chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "word " * 50}],
            )
        bad_tokens = httpx.post(f"{url}/v1/completions", json={"prompt": ["a", "b"]})
    assert broken.status_code == 400
    assert set(broken.json()["error"]) == {"message", "type", "param", "code"}
    assert too_long.value.code == "context_length_exceeded"
    assert "context window of 64 tokens" in too_long.value.message
    assert bad_tokens.status_code == 400
    assert bad_tokens.json()["error"]["param"] == "prompt"


def test_no_model_loaded() -> None:
    with serve_in_thread(api_app(FixedModels(None))) as url:
        api = client(url)
        listed = api.models.list()
        with pytest.raises(openai.InternalServerError) as caught:
            api.chat.completions.create(model="m", messages=HI)
    assert listed.data == []
    assert caught.value.status_code == 503 and caught.value.code == "model_not_loaded"


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
