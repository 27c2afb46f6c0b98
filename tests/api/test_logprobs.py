"""OpenAI ``logprobs`` on /v1, through the official client against the real SmolLM2.

Chat completions answer ``logprobs: true, top_logprobs: N`` (what SillyTavern's Chat
Completion sends for its Token Probabilities panel) with one entry per reply token;
text completions answer ``logprobs: N`` (its vLLM, ooba and TabbyAPI types) with the
legacy object, streamed or not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import openai
import pytest
from starlette.testclient import TestClient

from tests.api.live import FixedModels, api_app, openai_client

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

pytestmark = pytest.mark.model

PROMPT = "The capital of France is"
GREEDY: dict[str, Any] = {"model": "smollm", "max_tokens": 6, "temperature": 0, "seed": 1}


@pytest.fixture(scope="module")
def api(smollm: LlamaCppBackend) -> Iterator[openai.OpenAI]:
    with TestClient(api_app(FixedModels(smollm))) as http:
        yield openai_client(http)


def test_chat_logprobs_list_every_reply_token_with_its_alternatives(api: openai.OpenAI) -> None:
    ask = [{"role": "user", "content": "Say hello."}]
    reply = api.chat.completions.create(messages=ask, logprobs=True, top_logprobs=3, **GREEDY)
    choice = reply.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    entries = choice.logprobs.content
    assert "".join(e.token for e in entries) == choice.message.content
    assert reply.usage is not None and len(entries) == reply.usage.completion_tokens
    for entry in entries:
        assert len(entry.top_logprobs) == 3
        assert entry.bytes == list(entry.token.encode("utf-8"))
        best = entry.top_logprobs[0]
        # Greedy decoding picks the most likely token, and the list is best first.
        assert best.token == entry.token and math.isclose(best.logprob, entry.logprob)
        ranked = [t.logprob for t in entry.top_logprobs]
        assert ranked == sorted(ranked, reverse=True) and all(lp <= 0 for lp in ranked)


def test_chat_without_logprobs_reports_none(api: openai.OpenAI) -> None:
    reply = api.chat.completions.create(messages=[{"role": "user", "content": "Hi"}], **GREEDY)
    assert reply.choices[0].logprobs is None


def test_chat_stream_carries_the_same_logprobs_as_the_plain_reply(api: openai.OpenAI) -> None:
    ask = [{"role": "user", "content": "Count to three."}]
    plain = api.chat.completions.create(messages=ask, logprobs=True, top_logprobs=2, **GREEDY)
    stream = api.chat.completions.create(
        messages=ask, logprobs=True, top_logprobs=2, stream=True, **GREEDY
    )
    streamed = [
        e
        for c in stream
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content or []
    ]
    assert plain.choices[0].logprobs is not None
    want = [(e.token, round(e.logprob, 4)) for e in plain.choices[0].logprobs.content or []]
    assert [(e.token, round(e.logprob, 4)) for e in streamed] == want


def test_top_logprobs_without_logprobs_is_refused_naming_the_field(api: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="top_logprobs"):
        api.chat.completions.create(
            messages=[{"role": "user", "content": "Hi"}], top_logprobs=2, **GREEDY
        )


def test_completion_logprobs_in_the_legacy_shape(api: openai.OpenAI) -> None:
    reply = api.completions.create(prompt=PROMPT, logprobs=5, **GREEDY)
    choice = reply.choices[0]
    assert choice.logprobs is not None
    logprobs = choice.logprobs
    tokens = logprobs.tokens or []
    assert tokens and "".join(tokens) == choice.text
    assert logprobs.text_offset == [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    assert len(logprobs.token_logprobs or []) == len(tokens)
    for token, lp, top in zip(
        tokens, logprobs.token_logprobs or [], logprobs.top_logprobs or [], strict=True
    ):
        assert len(top) == 5 and max(top, key=top.__getitem__) == token
        assert math.isclose(top[token], lp)


def test_completion_stream_offsets_count_from_the_reply_start(api: openai.OpenAI) -> None:
    plain = api.completions.create(prompt=PROMPT, logprobs=1, **GREEDY)
    chunks = [
        c.choices[0].logprobs
        for c in api.completions.create(prompt=PROMPT, logprobs=1, stream=True, **GREEDY)
        if c.choices and c.choices[0].logprobs
    ]
    tokens = [t for lp in chunks for t in lp.tokens or []]
    offsets = [o for lp in chunks for o in lp.text_offset or []]
    assert plain.choices[0].logprobs is not None
    assert tokens == plain.choices[0].logprobs.tokens
    assert offsets == plain.choices[0].logprobs.text_offset


def test_sillytavern_textgen_body_gets_top_logprobs_it_can_read(smollm: LlamaCppBackend) -> None:
    """SillyTavern's ooba type sends ``logprobs: 10`` and reads
    ``choices[0].logprobs.top_logprobs[0]`` as ``{token: logprob}`` per chunk."""
    body = {"prompt": PROMPT, "max_tokens": 4, "temperature": 0, "logprobs": 10, "stream": False}
    with TestClient(api_app(FixedModels(smollm))) as http:
        answer = http.post("/v1/completions", json=body).json()
    top = answer["choices"][0]["logprobs"]["top_logprobs"]
    assert len(top) == answer["usage"]["completion_tokens"]
    assert all(len(entry) == 10 and all(v <= 0 for v in entry.values()) for entry in top)
