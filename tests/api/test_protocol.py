"""Wire models, sampler mapping, grammar, the queue gate and the SSE contract (no model)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from app.api.errors import (
    HTTP_ERRORS,
    QueueFull,
    error_response,
    validation_error,
)
from app.api.gate import GenerationGate
from app.api.grammar import grammar_for
from app.api.notes import FieldNotes
from app.api.protocol import ChatCompletionRequest, CompletionRequest, ResponseFormat
from app.api.sse import ChatChunks, CompletionChunks, sse_stream
from app.datalock import DataFolderInUse
from app.engine.base import Finished, GenerationEvent, GenerationStats, TextDelta
from app.engine.sampling import SamplerSettings
from app.errors import (
    Busy,
    ContextLengthExceeded,
    InputError,
    ModelLoadError,
    ModelNotLoaded,
    NotFound,
    ParlorError,
    RemoteBackendError,
    RemoteRateLimited,
)
from app.storage.db import StorageError

USER = [{"role": "user", "content": "hi"}]
STATS = GenerationStats(5, 3, 0, 5, 0.0, 0.0, 1)


def chat(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": USER, **fields})


def test_request_fields_override_the_defaults() -> None:
    defaults = SamplerSettings(temperature=1.2, min_p=0.1, repeat_penalty=1.1, top_k=40)
    request = chat(
        temperature=0.5,
        top_k=-1,
        repetition_penalty=1.05,
        seed=7,
        logit_bias={"15": -100, "16": 2.5},
        dry_multiplier=0.8,
        dry_sequence_breakers=["\n"],
        xtc_probability=0.5,
        xtc_threshold=0.2,
        dynatemp_range=0.3,
        dynatemp_exponent=1.5,
    )
    settings = request.to_sampler_settings(defaults)
    assert settings.temperature == 0.5
    assert settings.min_p == 0.1  # not in the request: the default stays
    assert settings.top_k == 0  # -1 means off
    assert settings.repeat_penalty == 1.05
    assert settings.seed == 7
    assert settings.logit_bias == {15: -100.0, 16: 2.5}
    assert settings.dry_multiplier == 0.8 and settings.dry_sequence_breakers == ("\n",)
    assert (settings.xtc_probability, settings.xtc_threshold) == (0.5, 0.2)
    assert (settings.dynatemp_range, settings.dynatemp_exponent) == (0.3, 1.5)


def test_explicit_nulls_mean_unset() -> None:
    request = chat(temperature=None, n=None, stream=None, stream_options=None, seed=None)
    settings = request.to_sampler_settings(SamplerSettings(temperature=0.7))
    assert settings.temperature == 0.7 and settings.seed == -1
    assert not request.stream and not request.include_usage


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"n": 17}, "n"),
        ({"logit_bias": {"abc": 1}}, "logit_bias"),
        ({"logit_bias": {"5": 101}}, "logit_bias"),
        ({"stream_options": {"include_usage": True}}, "request"),
        ({"tools": [{"type": "function"}]}, "request"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
    ],
)
def test_invalid_values_name_the_field(fields: dict[str, object], param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        chat(**fields)
    body = validation_error(caught.value.errors())
    assert body.status_code == 400
    assert body.error.type == "invalid_request_error"
    assert body.error.param == param
    assert body.error.message.startswith(f"{param}: ")


def test_unknown_fields_are_logged_once_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    notes = FieldNotes()
    with caplog.at_level(logging.WARNING, logger="app.api.notes"):
        for _ in range(3):
            sampling = chat(frobnicate=1, top_a=0.5, tfs=1, temperature=0.3).sampling(notes)
    assert sampling.overrides["temperature"] == 0.3
    assert caplog.text.count("frobnicate") == 1 and caplog.text.count("top_a") == 1
    assert "'tfs'" not in caplog.text  # at its neutral value: changes nothing
    assert notes.noted == {"frobnicate", "top_a"}


def test_message_content_parts_and_developer_role() -> None:
    request = chat(
        messages=[
            {
                "role": "developer",
                "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
            },
            {"role": "user", "content": "hi", "name": "Ann"},
        ]
    )
    system, user = request.messages
    assert (system.template_role, system.text) == ("system", "Be brief.")
    assert (user.name, user.text) == ("Ann", "hi")


def test_completion_prompt_forms() -> None:
    assert CompletionRequest(prompt="abc").single_prompt == "abc"
    assert CompletionRequest(prompt=["abc"]).single_prompt == "abc"
    assert CompletionRequest(prompt=[1, 2, 3]).single_prompt == [1, 2, 3]
    assert CompletionRequest(prompt=[[4, 5]]).single_prompt == [4, 5]
    with pytest.raises(ValidationError, match="only one prompt"):
        CompletionRequest(prompt=["a", "b"])
    with pytest.raises(ValidationError, match="echo"):
        CompletionRequest(prompt="a", echo=True)


def test_stop_strings() -> None:
    assert chat(stop="\n").stop_strings == ("\n",)
    assert chat(stop=["a", "", "b"]).stop_strings == ("a", "b")
    with pytest.raises(ValidationError):
        chat(stop=[str(i) for i in range(65)])


def test_grammar_for_response_formats() -> None:
    assert grammar_for(None, None) is None
    assert grammar_for(ResponseFormat(type="text"), None) is None
    any_object = grammar_for(ResponseFormat(type="json_object"), None)
    assert any_object is not None and "root ::= object" in any_object
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    fmt = ResponseFormat.model_validate(
        {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )
    typed = grammar_for(fmt, None)
    assert typed is not None and '"\\"age\\""' in typed
    assert grammar_for(None, 'root ::= "yes"') == 'root ::= "yes"'


def test_unusable_schema_is_an_input_error() -> None:
    fmt = ResponseFormat.model_validate(
        {"type": "json_schema", "json_schema": {"schema": {"type": "nonsense"}}}
    )
    with pytest.raises(InputError) as caught:
        grammar_for(fmt, None)
    assert caught.value.source == "response_format.json_schema.schema"


def test_error_bodies() -> None:
    body = error_response(ContextLengthExceeded(3000, 2048))
    assert body.status_code == 400 and body.error.code == "context_length_exceeded"
    assert "3000" in body.error.message
    remote = error_response(RemoteBackendError("http://x/v1: rate limited"))
    assert remote.status_code == 502
    assert json.loads(body.model_dump_json()) == {"error": body.error.model_dump()}


def test_domain_errors_carry_no_http_status() -> None:
    domain = (ParlorError, InputError, NotFound, Busy, ModelNotLoaded, RemoteBackendError)
    more = (RemoteRateLimited, ModelLoadError, ContextLengthExceeded, StorageError, DataFolderInUse)
    for cls in (*domain, *more):
        assert not hasattr(cls, "status_code"), cls
        assert not hasattr(cls, "error_type"), cls
    assert ParlorError in HTTP_ERRORS


def test_gate_admits_one_and_refuses_past_the_queue() -> None:
    async def scenario() -> list[str]:
        gate = GenerationGate(max_waiting=1)
        log: list[str] = []
        release = asyncio.Event()

        async def job(name: str) -> None:
            async with gate.turn():
                log.append(f"start {name}")
                await release.wait()
                log.append(f"end {name}")

        first = asyncio.create_task(job("a"))
        await asyncio.sleep(0)
        second = asyncio.create_task(job("b"))
        await asyncio.sleep(0)
        assert gate.waiting == 1 and gate.full
        with pytest.raises(QueueFull):
            async with gate.turn():
                pass
        release.set()
        await asyncio.gather(first, second)
        assert not gate.full and gate.waiting == 0
        return log

    assert asyncio.run(scenario()) == ["start a", "end a", "start b", "end b"]


async def _events(
    *events: GenerationEvent | Exception,
) -> AsyncGenerator[tuple[int, GenerationEvent], None]:
    for event in events:
        if isinstance(event, Exception):
            raise event
        yield 0, event


async def _collect(stream: AsyncIterator[str]) -> list[str]:
    return [frame async for frame in stream]


def _payloads(frames: list[str]) -> list[Any]:
    assert all(f.startswith("data: ") and f.endswith("\n\n") for f in frames)
    return [f[6:-2] if f[6:-2] == "[DONE]" else json.loads(f[6:-2]) for f in frames]


def test_chat_stream_contract_with_usage() -> None:
    events = _events(TextDelta("Hel"), TextDelta("lo"), Finished("length", "Hello", STATS))
    stream = sse_stream(events, ChatChunks("m", id="chatcmpl-1", created=1), include_usage=True)
    role, first, second, finish, usage, done = _payloads(asyncio.run(_collect(stream)))
    assert role == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    }
    assert first["choices"][0]["delta"] == {"content": "Hel"}
    assert second["choices"][0]["delta"] == {"content": "lo"}
    assert finish["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "length"}
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert done == "[DONE]"


def test_completion_stream_without_usage() -> None:
    events = _events(TextDelta("ab"), Finished("stop", "ab", STATS))
    frames = _payloads(
        asyncio.run(_collect(sse_stream(events, CompletionChunks("m"), include_usage=False)))
    )
    text, finish, done = frames
    assert text["object"] == "text_completion"
    assert text["choices"] == [{"index": 0, "text": "ab"}]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert done == "[DONE]"


def test_error_mid_stream_is_an_error_frame_then_done() -> None:
    events = _events(TextDelta("par"), RemoteBackendError("http://x/v1: stream dropped"))
    frames = _payloads(
        asyncio.run(_collect(sse_stream(events, ChatChunks("m"), include_usage=True)))
    )
    role, text, error, done = frames
    assert role["choices"][0]["delta"]["role"] == "assistant"
    assert text["choices"][0]["delta"]["content"] == "par"
    assert error == {
        "error": {
            "message": "http://x/v1: stream dropped",
            "type": "remote_error",
            "param": None,
            "code": None,
        }
    }
    assert done == "[DONE]"


def test_a_reply_ending_in_error_is_an_error_frame() -> None:
    failed = Finished("error", "part", STATS, error="stream dropped after 4 characters")
    events = _events(TextDelta("part"), failed)
    frames = _payloads(
        asyncio.run(_collect(sse_stream(events, ChatChunks("m"), include_usage=True)))
    )
    assert frames[-2] == {
        "error": {
            "message": "stream dropped after 4 characters",
            "type": "server_error",
            "param": None,
            "code": "generation_failed",
        }
    }
    assert frames[-1] == "[DONE]"
