"""Every SillyTavern API type against Parlor serving the real SmolLM2 model, in process:
connect, generate (streamed and not), token count and multi-swipe, with the bodies
SillyTavern sends (``tests/api/fixtures``) and its settings read as that type's server
reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from tests.api.live import RecordingBackend, openai_client
from tests.api.sillytavern import V1_TYPES, sse_data, st_body, streamed_text

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

pytestmark = pytest.mark.model

TEXT = "Hello there, traveller. The storm will not let up tonight."
#: SillyTavern's default DRY sequence breakers, sent as a JSON string.
BREAKERS = ("\n", ":", '"', "*")
STOPS = ("\nUser:", "<|im_start|>user", "<|im_end|>")


@pytest.fixture(scope="module")
def http(recorded_http: TestClient) -> TestClient:
    return recorded_http


# -- connect --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "status_paths"),
    [
        ("ooba", ["/v1/models", "/v1/internal/model/info"]),
        ("vllm", ["/v1/models"]),
        ("koboldcpp", ["/v1/models"]),
        ("llamacpp", ["/v1/models", "/props"]),
        ("tabby", ["/v1/model/list", "/v1/model"]),
    ],
)
def test_connect(
    http: TestClient, smollm: LlamaCppBackend, api_type: str, status_paths: list[str]
) -> None:
    """The calls of SillyTavern's ``/status`` (text-completions.js) all answer."""
    answers = {path: http.get(path) for path in status_paths}
    assert all(a.status_code == 200 for a in answers.values()), answers
    name = smollm.info.name
    first = answers[status_paths[0]].json()
    assert first["data"][0]["id"] == name  # SillyTavern takes modelIds[0]
    if api_type == "ooba":
        assert answers["/v1/internal/model/info"].json()["model_name"] == name
    if api_type == "tabby":
        assert answers["/v1/model"].json()["id"] == name
    if api_type == "llamacpp":
        props = answers["/props"].json()
        assert props["default_generation_settings"]["n_ctx"] == smollm.info.n_ctx
        assert props["chat_template"] == smollm.info.chat_template


def test_connect_kobold_classic(http: TestClient, smollm: LlamaCppBackend) -> None:
    """src/endpoints/backends/kobold.js ``/status``: three GETs."""
    united = http.get("/api/v1/info/version").json()
    extra = http.get("/api/extra/version").json()
    model = http.get("/api/v1/model").json()
    assert united == {"result": "1.2.5"}
    assert extra["result"] == "KoboldCpp" and extra["version"] >= "1.48"
    assert model == {"result": f"koboldcpp/{smollm.info.name}"}
    assert http.get("/api/extra/true_max_context_length").json() == {"value": 2048}


# -- generate -------------------------------------------------------------------------------


#: Each type's server reads SillyTavern's rep_pen_range 0 its own way; sampler orders too.
WINDOWS = {"ooba": -1, "vllm": -1, "koboldcpp": 1, "tabby": 0}
ORDERS = {
    "ooba": ("temperature", "top_k", "top_p", "typical_p", "min_p"),
    "koboldcpp": ("penalties", "top_k", "typical_p", "top_p", "min_p", "temperature"),
}


@pytest.mark.parametrize("api_type", V1_TYPES)
def test_generate_on_v1_completions(
    http: TestClient, recorder: RecordingBackend, api_type: str
) -> None:
    response = http.post("/v1/completions", json=st_body(api_type))
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["text"] and choice["finish_reason"] in ("stop", "length")
    sent = recorder.requests[-1]
    sampler = sent.sampler
    assert (sampler.temperature, sampler.top_k, sampler.top_p) == (0.7, 40, 0.5)
    assert sampler.repeat_penalty == 1.2
    assert sampler.repeat_last_n == WINDOWS[api_type]
    assert sent.stop == STOPS and sent.max_new_tokens == 24
    if api_type != "vllm":  # the vLLM filter drops the DRY fields
        assert sampler.dry_sequence_breakers == BREAKERS
    if api_type in ORDERS:
        ranked = [s for s in sampler.order if s in ORDERS[api_type]]
        assert tuple(ranked) == ORDERS[api_type]


@pytest.mark.parametrize("api_type", V1_TYPES)
def test_generate_streamed_on_v1_completions(http: TestClient, api_type: str) -> None:
    response = http.post("/v1/completions", json=st_body(api_type, stream=True))
    assert response.status_code == 200
    assert response.text.rstrip().endswith("data: [DONE]")
    text, swipes = streamed_text(sse_data(response.text))
    assert text and swipes == {}


def test_generate_llamacpp(http: TestClient, recorder: RecordingBackend) -> None:
    plain = http.post("/completion", json=st_body("llamacpp")).json()
    sent = recorder.requests[-1]
    frames = sse_data(http.post("/completion", json=st_body("llamacpp", stream=True)).text)
    assert plain["content"] and plain["stop"] is True
    assert plain["stop_type"] in ("eos", "limit", "word")
    assert plain["tokens_evaluated"] == len(sent.prompt_tokens)
    assert plain["timings"]["predicted_n"] == plain["tokens_predicted"] <= 24
    # llama.cpp's meanings: repeat_last_n 0 is off; samplers is the order
    assert sent.sampler.repeat_last_n == 0 and sent.sampler.temperature_last is False
    ranked = [s for s in sent.sampler.order if s in ("top_k", "typical_p", "top_p", "min_p")]
    assert ranked == ["top_k", "typical_p", "top_p", "min_p"]
    assert sent.sampler.order[-1] == "temperature"
    assert all(f["stop"] is False for f in frames[:-1]) and frames[-1]["stop"] is True
    assert "".join(f["content"] for f in frames) and frames[-1]["content"] == ""
    assert frames[-1]["tokens_predicted"] == recorder.finished[-1].stats.completion_tokens


def test_generate_kobold_classic(http: TestClient, recorder: RecordingBackend) -> None:
    plain = http.post("/api/v1/generate", json=st_body("kobold")).json()
    sent = recorder.requests[-1]
    stream = http.post("/api/extra/generate/stream", json=st_body("kobold"))
    events = [line for line in stream.text.splitlines() if line.startswith("event: ")]
    frames = sse_data(stream.text)
    assert plain["results"][0]["text"]
    assert plain["results"][0]["finish_reason"] in ("stop", "length")
    # KoboldCpp's meanings: rep_pen_range 0 is the last token; sampler_order [0..6]
    assert sent.sampler.repeat_last_n == 1 and sent.max_new_tokens == 24
    assert [s for s in sent.sampler.order if s in ("top_k", "top_p", "temperature")] == [
        "top_k",
        "top_p",
        "temperature",
    ]
    assert set(events) == {"event: message"}
    assert "".join(f["token"] for f in frames) and frames[-1]["finish_reason"] != "null"


# -- token count ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "path", "body", "count_key"),
    [
        ("ooba", "/v1/internal/encode", {"text": TEXT}, "length"),
        ("vllm", "/tokenize", {"model": "", "prompt": TEXT}, "count"),
        ("llamacpp", "/tokenize", {"content": TEXT}, None),
        ("koboldcpp", "/api/extra/tokencount", {"prompt": TEXT}, "value"),
        ("tabby", "/v1/token/encode", {"text": TEXT}, "length"),
        ("kobold", "/api/extra/tokencount", {"prompt": TEXT}, "value"),
    ],
)
def test_token_count(
    http: TestClient,
    smollm: LlamaCppBackend,
    api_type: str,
    path: str,
    body: dict[str, Any],
    count_key: str | None,
) -> None:
    """tokenizers.js ``/remote/textgenerationwebui/encode`` reads ``length``, ``count``,
    ``value`` or ``tokens.length``, and the ids from ``tokens`` or ``ids``."""
    data = http.post(path, json=body).json()
    tokens = smollm.tokenize(TEXT)  # SmolLM2 adds no BOS
    ids = data.get("tokens", data.get("ids"))
    assert ids == tokens, api_type
    if count_key is not None:
        assert data[count_key] == len(tokens)


# -- multi-swipe ----------------------------------------------------------------------------


@pytest.mark.parametrize("api_type", ["vllm", "tabby"])
def test_multiswipe(http: TestClient, api_type: str) -> None:
    """ "Multiple swipes per generation": n choices; streamed, choice i > 0 is swipe i-1."""
    body = st_body(f"{api_type}_multiswipe")
    plain = http.post("/v1/completions", json=body).json()
    streamed = http.post("/v1/completions", json={**body, "stream": True})
    assert [c["index"] for c in plain["choices"]] == [0, 1, 2]
    assert all(c["text"] for c in plain["choices"])
    text, swipes = streamed_text(sse_data(streamed.text))
    assert text and set(swipes) == {0, 1} and all(swipes.values())


def test_multiswipe_in_every_other_dialect(http: TestClient) -> None:
    ooba = http.post("/v1/completions", json=st_body("ooba", n=2)).json()
    llama = http.post("/completion", json=st_body("llamacpp", n_cmpl=2)).json()
    kobold = http.post("/api/v1/generate", json=st_body("kobold", n=2)).json()
    chat = openai_client(http).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi!"}], n=2, max_tokens=8
    )
    assert len(ooba["choices"]) == 2
    assert [a["index"] for a in llama] == [0, 1]
    assert len(kobold["results"]) == 2
    assert [c.index for c in chat.choices] == [0, 1]
