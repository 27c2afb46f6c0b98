"""Hostile and broken API input (issue 19, items 4–6): every answer is an OpenAI error.

No sockets: the API runs in process behind starlette's TestClient.  Nothing here measures
time; "refused before tokenizing" is checked by counting the backend's tokenize calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from app.api.llamacpp_routes import LLAMACPP_ROUTES
from app.engine.fake import FakeBackend
from tests.api.live import FixedModels, api_app

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

HI = [{"role": "user", "content": "hi"}]
JSON = {"content-type": "application/json"}
LONE_SURROGATE = b'"\\udc00"'  # the JSON escape of a lone low surrogate


class CountingBackend(FakeBackend):
    """A fake that counts how often something was tokenized or detokenized."""

    def __init__(self, *, n_ctx: int = 4096) -> None:
        super().__init__(n_ctx=n_ctx)
        self.tokenized = 0
        self.detokenized = 0

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        self.tokenized += 1
        text.encode("utf-8")  # as llama.cpp does: a lone surrogate cannot be encoded
        return super().tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: Any, *, special: bool = True) -> str:
        self.detokenized += 1
        return super().detokenize(tokens, special=special)


@pytest.fixture
def backend() -> CountingBackend:
    return CountingBackend()


@pytest.fixture
def http(backend: CountingBackend) -> Iterator[TestClient]:
    with TestClient(api_app(FixedModels(backend)), raise_server_exceptions=False) as client:
        yield client


def assert_openai_error(response: Any, status: int) -> dict[str, Any]:
    """The body is ``{"error": {message, type, param, code}}`` and the status is ``status``."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in body["error"]["message"]
    return dict(body["error"])


#: llama-server's error types that stand for OpenAI's error codes in these tests.
_LLAMA_CODES = {"exceed_context_size_error": "context_length_exceeded"}


def assert_api_error(response: Any, status: int) -> dict[str, Any]:
    """The error in the shape of the dialect owning the path: llama.cpp's
    ``{"error": {code, message, type}}`` on its routes, KoboldCpp's ``{"detail": {msg,
    type}}`` under /api (both returned with ``param`` and ``code`` read as OpenAI's would
    be), OpenAI's elsewhere."""
    path = response.request.url.path
    if path.startswith("/api/"):
        return _kobold_error(response, status)
    if path not in LLAMACPP_ROUTES:
        return assert_openai_error(response, status)
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "type"}, body
    error = body["error"]
    assert error["code"] == status and "Traceback" not in error["message"]
    param = error["message"].split(":")[0] if status == 400 else None
    code = "request_too_large" if status == 413 else _LLAMA_CODES.get(error["type"])
    return {"message": error["message"], "type": error["type"], "param": param, "code": code}


def _kobold_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"detail"} and {"msg", "type"} <= set(body["detail"]), body
    message = body["detail"]["msg"]
    assert "Traceback" not in message
    param = message.split(":")[0] if status == 400 else None
    code = "request_too_large" if status == 413 else None
    return {"message": message, "type": body["detail"]["type"], "param": param, "code": code}


# -- 19.4: lone surrogates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": ' + LONE_SURROGATE + b"}]}",
            "messages.0.content",
        ),
        ("/v1/completions", b'{"prompt": ' + LONE_SURROGATE + b"}", "prompt"),
        ("/tokenize", b'{"content": ' + LONE_SURROGATE + b"}", "content"),
        ("/completion", b'{"prompt": ' + LONE_SURROGATE + b"}", "prompt"),
        ("/api/v1/generate", b'{"prompt": ' + LONE_SURROGATE + b"}", "prompt"),
        ("/api/extra/tokencount", b'{"prompt": ' + LONE_SURROGATE + b"}", "prompt"),
        (
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": "hi"}], "stop": ["a", '
            + LONE_SURROGATE
            + b"]}",
            "stop.1",
        ),
    ],
)
def test_a_lone_surrogate_is_a_400(
    http: TestClient, backend: CountingBackend, path: str, body: bytes, param: str
) -> None:
    error = assert_api_error(http.post(path, content=body, headers=JSON), 400)
    assert error["param"] == param
    assert "surrogate" in error["message"]
    assert backend.tokenized == 0


def test_a_valid_surrogate_pair_is_fine(http: TestClient) -> None:
    body = b'{"content": "\\ud83d\\ude00"}'  # one emoji, escaped as a pair
    response = http.post("/tokenize", content=body, headers=JSON)
    assert response.status_code == 200 and response.json() == {"tokens": [0x1F600]}


@pytest.mark.model
def test_a_lone_surrogate_never_reaches_llama_cpp(smollm: LlamaCppBackend) -> None:
    with TestClient(api_app(FixedModels(smollm)), raise_server_exceptions=False) as client:
        body = b'{"content": ' + LONE_SURROGATE + b"}"
        assert_api_error(client.post("/tokenize", content=body, headers=JSON), 400)
        chat = b'{"messages": [{"role": "user", "content": "a' + LONE_SURROGATE[1:] + b"}]}"
        assert_openai_error(client.post("/v1/chat/completions", content=chat, headers=JSON), 400)


# -- 19.5: error bodies, strict values ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', "not valid UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
    ids=["unparseable", "invalid-utf8", "deep"],
)
def test_unreadable_bodies_are_errors_in_the_dialects_shape(
    http: TestClient, body: bytes, problem: str
) -> None:
    paths = ("/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize")
    for path in (*paths, "/completion", "/api/v1/generate", "/api/extra/tokencount"):
        error = assert_api_error(http.post(path, content=body, headers=JSON), 400)
        assert problem in error["message"]
        assert error["type"] in ("invalid_request_error", "bad_input")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/nothing-here", 404),
        ("POST", "/v1/engines/davinci/completions", 404),
        ("GET", "/v1", 404),
        ("GET", "/v1/chat/completions", 405),
        ("DELETE", "/v1/models", 405),
        ("GET", "/tokenize", 405),
        ("PUT", "/detokenize", 405),
        ("GET", "/completion", 405),
        ("GET", "/api/v1/generate", 405),
        ("POST", "/api/v1/model", 405),
        ("GET", "/api/nothing", 404),
    ],
)
def test_unknown_routes_and_methods_are_errors_in_the_dialects_shape(
    http: TestClient, method: str, path: str, status: int
) -> None:
    error = assert_api_error(http.request(method, path), status)
    assert path in error["message"] and method in error["message"]


def test_the_openapi_schema_documents_the_real_status_codes(http: TestClient) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    shapes = {"/tokenize": "LlamaErrorResponse", "/detokenize": "LlamaErrorResponse"}
    for path in ("/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize"):
        responses = paths[path]["post"]["responses"]
        assert "422" not in responses, path
        assert {"200", "400", "401", "413"} <= set(responses), path
        schema = responses["400"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{shapes.get(path, 'ErrorResponse')}"}
    assert {"200", "401"} <= set(paths["/v1/models"]["get"]["responses"])


@pytest.mark.parametrize("value", ["yes", "true", 1, "1"])
def test_stream_is_a_strict_bool(http: TestClient, value: object) -> None:
    response = http.post("/v1/chat/completions", json={"messages": HI, "stream": value})
    assert assert_openai_error(response, 400)["param"] == "stream"


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": None},
        {"role": "user"},
        {"role": "system", "content": None},
        {"role": "assistant", "content": None},
    ],
)
def test_null_content_is_refused(http: TestClient, message: dict[str, Any]) -> None:
    response = http.post("/v1/chat/completions", json={"messages": [*HI, message]})
    error = assert_openai_error(response, 400)
    assert error["param"] == "messages.1.content"


def test_null_content_is_fine_on_an_assistant_message_with_tool_calls(
    http: TestClient, backend: CountingBackend
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [*HI, {"role": "assistant", "content": None, "tool_calls": [call]}]
    response = http.post("/v1/chat/completions", json={"messages": [*messages, *HI]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("bias", "status"),
    [
        ({"65": -5}, 200),
        ({"65": -100, "66": 100, "67": 2.5}, 200),
        ({"999999999": 5}, 400),
        ({"-5": 5}, 400),
        ({"65": 101}, 400),
        ({"65": -100.5}, 400),
        ({"a": 1}, 400),
    ],
)
def test_logit_bias_is_validated_like_openai(
    http: TestClient, backend: CountingBackend, bias: dict[str, float], status: int
) -> None:
    response = http.post("/v1/chat/completions", json={"messages": HI, "logit_bias": bias})
    if status == 200:
        assert response.status_code == 200, response.text
        assert backend.requests[-1].sampler.logit_bias == {int(k): v for k, v in bias.items()}
    else:
        assert assert_openai_error(response, 400)["param"] == "logit_bias"


def test_logit_bias_token_ids_follow_the_loaded_vocabulary(smollm_vocab_http: TestClient) -> None:
    too_big = {"messages": HI, "logit_bias": {"49152": 1}, "max_tokens": 1}
    error = assert_openai_error(smollm_vocab_http.post("/v1/chat/completions", json=too_big), 400)
    assert "49152" in error["message"] and "0..49151" in error["message"]


@pytest.fixture
def smollm_vocab_http() -> Iterator[TestClient]:
    """A fake with SmolLM2's vocabulary size (49152 tokens)."""
    from dataclasses import replace

    backend = FakeBackend()
    backend._info = replace(backend.info, n_vocab=49152)
    with TestClient(api_app(FixedModels(backend)), raise_server_exceptions=False) as client:
        yield client


# -- 19.6: size limits ----------------------------------------------------------------------


def test_a_20_mb_body_is_refused_with_413_before_anything_reads_it(
    http: TestClient, backend: CountingBackend
) -> None:
    prompt = "a" * 20_000_000
    for path, body in (
        ("/v1/completions", {"prompt": prompt}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": prompt}]}),
        ("/tokenize", {"content": prompt}),
        ("/completion", {"prompt": prompt}),
        ("/api/v1/generate", {"prompt": prompt}),
    ):
        error = assert_api_error(http.post(path, json=body), 413)
        assert error["code"] == "request_too_large"
    assert backend.tokenized == 0 and backend.requests == []


def test_a_chunked_body_over_the_limit_is_refused_with_413(
    http: TestClient, backend: CountingBackend
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"a" * 1_000_000
        yield b'"}'

    response = http.post("/v1/completions", content=chunks(), headers=JSON)
    assert_openai_error(response, 413)
    assert backend.tokenized == 0


def test_the_body_limit_is_configurable() -> None:
    backend = CountingBackend()
    app = api_app(FixedModels(backend), max_request_bytes=2048)
    with TestClient(app, raise_server_exceptions=False) as client:
        small = client.post("/tokenize", json={"content": "a" * 1000})
        large = client.post("/tokenize", json={"content": "a" * 3000})
    assert small.status_code == 200
    assert_api_error(large, 413)


def test_a_prompt_that_cannot_fit_is_refused_before_tokenizing() -> None:
    backend = CountingBackend(n_ctx=256)
    prompt = "word " * 200_000  # 1 MB: within the body limit, far past 256 tokens
    messages = [{"role": "user", "content": prompt}]
    with TestClient(api_app(FixedModels(backend)), raise_server_exceptions=False) as client:
        answers = [
            client.post("/v1/completions", json={"prompt": prompt}),
            client.post("/v1/chat/completions", json={"messages": messages}),
            client.post("/tokenize", json={"content": prompt}),
        ]
    for response in answers:
        error = assert_api_error(response, 400)
        assert error["code"] == "context_length_exceeded"
        assert "context window of 256 tokens" in error["message"]
    assert backend.tokenized == 0


def test_a_token_prompt_over_the_context_is_refused_before_detokenizing() -> None:
    backend = CountingBackend(n_ctx=256)
    with TestClient(api_app(FixedModels(backend)), raise_server_exceptions=False) as client:
        response = client.post("/v1/completions", json={"prompt": [65] * 5000})
        detok = client.post("/detokenize", json={"tokens": [65] * 5000})
    assert assert_openai_error(response, 400)["code"] == "context_length_exceeded"
    assert detok.status_code == 200
    assert backend.detokenized == 1  # only /detokenize, which has no context to fit
