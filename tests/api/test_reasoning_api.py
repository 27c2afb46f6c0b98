"""The API's reasoning: ``reasoning_content`` apart from ``content`` in chat completions
(streamed as ``delta.reasoning_content``), as llama-server and vLLM send it; text
completions stay raw."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.context import build_context
from app.engine.base import ModelInfo
from app.engine.fake import FakeBackend
from app.settings import Settings
from tests.api.live import FixedModels, api_app, openai_client
from tests.api.test_serving import context_client

R1_TEMPLATE = Path(__file__).parents[1] / "prompt" / "chat_templates" / "deepseek-r1-distill.jinja"
HI = [{"role": "user", "content": "hi"}]


class TemplatedBackend(FakeBackend):
    """The scripted backend with a chat template of its own."""

    def __init__(self, chat_template: str | None) -> None:
        super().__init__()
        self._template = chat_template

    @property
    def info(self) -> ModelInfo:
        return replace(super().info, chat_template=self._template)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def http(backend: FakeBackend) -> Iterator[TestClient]:
    """The API alone over the scripted backend."""
    yield from served(backend)


def served(backend: FakeBackend) -> Iterator[TestClient]:
    """An in-process client of the API over ``backend``."""
    with TestClient(api_app(FixedModels(backend))) as client:
        yield client


def stream_parts(http: TestClient, body: dict[str, Any]) -> tuple[str, str]:
    """The streamed ``(reasoning_content, content)`` of a chat completion."""
    reasoning, content = "", ""
    with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:])["choices"]:
                delta = choice["delta"]
                reasoning += delta.get("reasoning_content") or ""
                content += delta.get("content") or ""
    return reasoning, content


def test_a_chat_reply_sends_its_reasoning_apart(http: TestClient, backend: FakeBackend) -> None:
    backend.enqueue(["<think>\nThey said hi.\n</think>\n\nHello!"])
    answer = http.post("/v1/chat/completions", json={"messages": HI}).json()
    message = answer["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("They said hi.", "Hello!")


def test_the_official_client_reads_reasoning_content(
    http: TestClient, backend: FakeBackend
) -> None:
    backend.enqueue(["<think>Short.</think>Long answer."])
    reply = openai_client(http).chat.completions.create(model="x", messages=HI)  # type: ignore[arg-type]
    message = reply.choices[0].message
    assert message.content == "Long answer."
    assert (message.model_extra or {})["reasoning_content"] == "Short."


def test_a_stream_sends_reasoning_deltas_then_content_even_with_split_tags(
    http: TestClient, backend: FakeBackend
) -> None:
    backend.enqueue(["<th", "ink>\nWeigh", "ing it.\n</th", "ink>\n", "\nYes", "."])
    assert stream_parts(http, {"messages": HI}) == ("Weighing it.", "Yes.")


def test_a_reply_without_reasoning_is_all_content(http: TestClient, backend: FakeBackend) -> None:
    backend.enqueue(["Just an answer <think>late</think>."])
    answer = http.post("/v1/chat/completions", json={"messages": HI}).json()
    message = answer["choices"][0]["message"]
    assert message["content"] == "Just an answer <think>late</think>."
    assert message.get("reasoning_content") is None


def test_text_completions_stay_raw(http: TestClient, backend: FakeBackend) -> None:
    backend.enqueue(["<think>raw</think>text"])
    answer = http.post("/v1/completions", json={"prompt": "Say:"}).json()
    assert answer["choices"][0]["text"] == "<think>raw</think>text"


def test_a_prompt_prefilled_with_think_starts_the_reply_inside_the_block() -> None:
    backend = TemplatedBackend(R1_TEMPLATE.read_text())
    backend.enqueue(["Plan the reply.\n</think>\n\nHi there."])
    backend.enqueue(["Still thinking about", " it"])
    for http in served(backend):
        answer = http.post("/v1/chat/completions", json={"messages": HI}).json()
        assert backend.requests[-1].prompt_text == "<｜User｜>hi<｜Assistant｜><think>\n"
        message = answer["choices"][0]["message"]
        assert (message["reasoning_content"], message["content"]) == (
            "Plan the reply.",
            "Hi there.",
        )
        assert stream_parts(http, {"messages": HI}) == ("Still thinking about it", "")


def test_the_per_model_template_choice_reaches_the_api(_isolated_home: Path) -> None:
    context = build_context(Settings.load(data_dir=_isolated_home), load_model=False)
    backend = FakeBackend()
    context.models.use(backend)
    context.stores.preferences.set_reasoning_template("fake", "gpt-oss")
    backend.enqueue(["<|channel|>analysis<|message|>Plan.<|start|>assistant<|channel|>final"
                     "<|message|>Done."])  # fmt: skip
    try:
        with context_client(context) as http:
            answer = http.post("/v1/chat/completions", json={"messages": HI}).json()
    finally:
        context.close()
    message = answer["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("Plan.", "Done.")
