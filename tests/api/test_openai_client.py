"""The official ``openai`` client against Parlor's API serving the real SmolLM2 model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from starlette.testclient import TestClient

from tests.api.live import FixedModels, api_app, openai_client

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

pytestmark = pytest.mark.model

KEY = "parlor-test-key"
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def http(smollm: LlamaCppBackend) -> Iterator[TestClient]:
    """Parlor's API in process, serving SmolLM2, with an API key."""
    with TestClient(api_app(FixedModels(smollm), api_key=KEY)) as client:
        yield client


@pytest.fixture(scope="module")
def api(http: TestClient) -> openai.OpenAI:
    return openai_client(http, KEY)


def test_models_lists_the_loaded_model(api: openai.OpenAI, smollm: LlamaCppBackend) -> None:
    assert [m.id for m in api.models.list().data] == [smollm.info.name]


def test_chat_stream_matches_the_plain_reply(api: openai.OpenAI) -> None:
    plain = api.chat.completions.create(
        model="smollm",
        messages=ASK,
        max_tokens=8,
        temperature=0,
        seed=1,
    )
    chunks = list(
        api.chat.completions.create(
            model="smollm",
            messages=ASK,
            max_tokens=8,
            temperature=0,
            seed=1,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert plain.object == "chat.completion" and plain.id.startswith("chatcmpl-")
    assert plain.choices[0].finish_reason in ("stop", "length")
    text = plain.choices[0].message.content
    assert text and plain.choices[0].message.role == "assistant"
    usage = plain.usage
    assert usage is not None and 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert chunks[-2].choices[0].finish_reason == plain.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage == usage


def test_json_object_is_enforced(api: openai.OpenAI) -> None:
    reply = api.chat.completions.create(
        model="smollm",
        messages=[{"role": "user", "content": "Describe a cat as JSON with name and age."}],
        max_tokens=40,
        temperature=0,
        response_format={"type": "json_object"},
    )
    content = reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop", content
    assert isinstance(json.loads(content or ""), dict)


def test_json_schema_is_enforced(api: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    reply = api.chat.completions.create(
        model="smollm",
        messages=ASK,
        max_tokens=20,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert json.loads(reply.choices[0].message.content or "")["colour"] in ("red", "green", "blue")


def test_wrong_key_is_refused(http: TestClient) -> None:
    wrong = openai_client(http, "nope")
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model="smollm", messages=ASK)
    assert caught.value.status_code == 401


def test_text_completion_and_logit_bias(api: openai.OpenAI, smollm: LlamaCppBackend) -> None:
    prompt = "The capital of France is"
    first = api.completions.create(model="smollm", prompt=prompt, max_tokens=3, temperature=0)
    text = first.choices[0].text
    assert first.object == "text_completion" and text
    banned = smollm.tokenize(text)[0]
    again = api.completions.create(
        model="smollm",
        prompt=prompt,
        max_tokens=3,
        temperature=0,
        logit_bias={str(banned): -100},
    )
    assert smollm.tokenize(again.choices[0].text)[0] != banned


def test_text_completion_stream(api: openai.OpenAI) -> None:
    chunks = list(
        api.completions.create(
            model="smollm",
            prompt="Once upon a time",
            max_tokens=4,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"dry_multiplier": 0.8, "xtc_probability": 0.5, "dynatemp_range": 0.2},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices)
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_prompt_over_the_context(api: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(
            model="smollm",
            messages=[{"role": "user", "content": "lorem ipsum " * 1200}],
            max_tokens=4,
        )
    assert caught.value.code == "context_length_exceeded"


def test_invalid_value_is_a_400(api: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(model="smollm", messages=ASK, top_p=3)
    assert caught.value.param == "top_p"


def test_tokenize_and_detokenize(http: TestClient, smollm: LlamaCppBackend) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    text = "<|im_start|>user\nCafé ☕"
    tokens = http.post("/tokenize", json={"content": text}, headers=headers).json()
    assert tokens == {"tokens": smollm.tokenize(text)}
    pieces = http.post(
        "/tokenize", json={"content": text, "with_pieces": True}, headers=headers
    ).json()["tokens"]
    assert pieces[0] == {"id": tokens["tokens"][0], "piece": "<|im_start|>"}
    back = http.post("/detokenize", json={"tokens": tokens["tokens"]}, headers=headers)
    assert back.json() == {"content": text}


def test_raw_gbnf_grammar_extension(api: openai.OpenAI) -> None:
    reply = api.chat.completions.create(
        model="smollm",
        messages=[{"role": "user", "content": "Is the sky blue?"}],
        max_tokens=5,
        extra_body={"grammar": 'root ::= "yes" | "no"'},
    )
    assert reply.choices[0].message.content in ("yes", "no")
    assert reply.choices[0].finish_reason == "stop"
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(
            model="smollm",
            messages=ASK,
            max_tokens=5,
            extra_body={"grammar": "root ::= missing-rule"},
        )
    assert caught.value.param == "grammar"


def test_logit_bias_follows_the_vocabulary(api: openai.OpenAI, smollm: LlamaCppBackend) -> None:
    n_vocab = smollm.info.n_vocab
    reply = api.completions.create(
        model="smollm", prompt="Hello", max_tokens=1, logit_bias={"42": -5, "43": 3}
    )
    assert reply.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as caught:
        api.completions.create(
            model="smollm", prompt="Hello", max_tokens=1, logit_bias={str(n_vocab): 1}
        )
    assert caught.value.param == "logit_bias"
    assert f"0..{n_vocab - 1}" in caught.value.message
