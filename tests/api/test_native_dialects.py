"""The llama.cpp server and KoboldCpp dialects against the real SmolLM2 model: token
probabilities, n choices from one prompt evaluation, KoboldCpp's stop sequences and
context limit, model names with their family, and errors in each dialect's shape."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from app.api.naming import served_name
from app.engine.fake import FakeBackend
from app.engine.family import model_family
from tests.api.live import FixedModels, RecordingBackend, api_app
from tests.api.sillytavern import sse_data, st_body

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

PROMPT = "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def http(recorded_http: TestClient) -> TestClient:
    return recorded_http


# -- llama.cpp: completion_probabilities ------------------------------------------------------


@pytest.mark.model
def test_n_probs_reports_the_top_tokens_of_every_generated_token(http: TestClient) -> None:
    body = {"prompt": PROMPT, "n_predict": 6, "temperature": 0, "n_probs": 3}
    plain = http.post("/completion", json=body).json()
    frames = sse_data(http.post("/completion", json={**body, "stream": True}).text)
    probs = plain["completion_probabilities"]
    assert len(probs) == plain["tokens_predicted"] == 6
    for entry in probs:
        top = entry["top_logprobs"]
        assert len(top) == 3 and top == sorted(top, key=lambda t: -t["logprob"])
        assert entry["id"] == top[0]["id"]  # greedy: the most likely token was chosen
        assert math.isclose(entry["logprob"], top[0]["logprob"])
        assert 0 < sum(math.exp(t["logprob"]) for t in top) <= 1 + 1e-9
        assert entry["probs"][0] == {
            "tok_str": top[0]["token"],
            "prob": pytest.approx(math.exp(top[0]["logprob"])),
        }  # SillyTavern 1.12's shape
    streamed = [p for f in frames[:-1] for p in f["completion_probabilities"]]
    assert [p["id"] for p in streamed] == [p["id"] for p in probs]
    assert "".join(p["token"] for p in probs) == plain["content"]
    assert "completion_probabilities" not in frames[-1]


@pytest.mark.model
def test_without_n_probs_nothing_is_computed(http: TestClient, recorder: RecordingBackend) -> None:
    answer = http.post("/completion", json={"prompt": PROMPT, "n_predict": 3}).json()
    assert "completion_probabilities" not in answer
    assert recorder.requests[-1].n_probs == 0 and recorder.finished[-1].probs == ()


# -- n choices from one prompt evaluation ----------------------------------------------------


@pytest.mark.model
def test_n_choices_evaluate_the_prompt_once(http: TestClient, smollm: LlamaCppBackend) -> None:
    """Choices after the first reuse the cached prompt and its saved last logits: the
    prompt (over 1024 tokens, so its logits are kept) is evaluated once."""
    story = " ".join(f"Lantern {i} burns over harbour {i * 7} tonight." for i in range(110))
    prompt = f"<|im_start|>user\n{story}\nWhich lantern is brightest?<|im_end|>\n"
    answers = http.post(
        "/completion", json={"prompt": prompt, "n_predict": 4, "n_cmpl": 3, "seed": 5}
    ).json()
    n_prompt = len(smollm.tokenize(prompt))
    assert n_prompt > 1024 and [a["index"] for a in answers] == [0, 1, 2]
    assert answers[0]["timings"]["prompt_n"] > 1000
    for later in answers[1:]:
        assert later["timings"]["prompt_n"] == 0  # nothing evaluated again
        assert later["tokens_cached"] == later["tokens_evaluated"] == n_prompt
    seeds = [a["generation_settings"]["seed"] for a in answers]
    assert seeds == [5, 6, 7]  # a fixed seed gives each choice its own


@pytest.mark.model
def test_v1_n_choices_share_one_evaluation(http: TestClient, recorder: RecordingBackend) -> None:
    body = {"prompt": PROMPT, "max_tokens": 4, "n": 3, "seed": 1}
    reply = http.post("/v1/completions", json=body).json()
    stats = [f.stats for f in recorder.finished[-3:]]
    assert len(reply["choices"]) == 3 and reply["usage"]["prompt_tokens"] == stats[0].prompt_tokens
    assert reply["usage"]["completion_tokens"] == sum(s.completion_tokens for s in stats)
    # a short prompt keeps no logits: its last token is evaluated again, nothing else
    assert all(s.tokens_evaluated <= 1 for s in stats[1:])
    assert all(s.tokens_reused >= s.prompt_tokens - 1 for s in stats[1:])


# -- KoboldCpp -------------------------------------------------------------------------------


@pytest.mark.model
def test_kobold_stop_sequence_stays_in_the_text_unless_trim_stop(http: TestClient) -> None:
    body = {"prompt": PROMPT, "max_length": 40, "temperature": 0, "stop_sequence": ["e"]}
    kept = http.post("/api/v1/generate", json=body).json()["results"][0]
    trimmed = http.post("/api/v1/generate", json={**body, "trim_stop": True}).json()["results"][0]
    assert kept["finish_reason"] == "stop"
    assert kept["text"].endswith("e") and kept["text"] == trimmed["text"] + "e"
    assert "e" not in trimmed["text"]


@pytest.mark.model
def test_kobold_max_context_length_drops_the_oldest_prompt_tokens(
    http: TestClient, recorder: RecordingBackend, smollm: LlamaCppBackend
) -> None:
    prompt = "One two three four five six seven eight nine ten. " * 20 + PROMPT
    body = {"prompt": prompt, "max_length": 8, "max_context_length": 64, "temperature": 0}
    http.post("/api/v1/generate", json=body)
    sent = recorder.requests[-1].prompt_tokens
    assert len(sent) == 64 - 8
    assert list(sent) == smollm.tokenize(prompt)[-(64 - 8) :]


# -- model names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "name", "family", "served"),
    [
        (
            {"general.architecture": "llama", "tokenizer.ggml.pre": "llama-bpe"},
            "Meta Llama 3.1 8B Instruct",
            "llama-3",
            "Meta Llama 3.1 8B Instruct (llama-3)",
        ),
        (
            {"general.architecture": "llama", "tokenizer.ggml.model": "llama"},
            "Mistral 7B Instruct v0.3",
            "mistral",
            "Mistral 7B Instruct v0.3",
        ),
        ({"general.architecture": "qwen2"}, "Qwen2.5 7B", "qwen2", "Qwen2.5 7B"),
        ({"general.architecture": "gemma2"}, "Tiger", "gemma", "Tiger (gemma)"),
        ({"general.architecture": "llama"}, "L3 Stheno", "llama", "L3 Stheno (llama)"),
    ],
)
def test_model_names_carry_their_family(
    metadata: dict[str, Any], name: str, family: str, served: str
) -> None:
    assert model_family(metadata, name) == family
    assert served_name(replace(FakeBackend().info, name=name, family=family)) == served


@pytest.mark.model
def test_smollm2_keeps_its_name(http: TestClient, smollm: LlamaCppBackend) -> None:
    """SmolLM2 (llama architecture, its own "smollm" tokenizer) already names its family."""
    assert smollm.info.family == "smollm"
    assert http.get("/v1/models").json()["data"][0]["id"] == smollm.info.name
    assert http.get("/api/v1/model").json() == {"result": f"koboldcpp/{smollm.info.name}"}


# -- errors in each dialect's shape ----------------------------------------------------------


def test_errors_in_each_dialects_shape() -> None:
    with TestClient(api_app(FixedModels(FakeBackend()), api_key="k")) as client:
        key = {"Authorization": "Bearer k"}
        llama_bad = client.post("/completion", json={"prompt": 5}, headers=key)
        llama_key = client.post("/completion", json={"prompt": "hi"})
        llama_method = client.get("/tokenize", headers=key)
        kobold_bad = client.post("/api/v1/generate", json={"max_length": "x"}, headers=key)
        kobold_key = client.get("/api/v1/model")
        kobold_missing = client.get("/api/v1/nothing", headers=key)
        health = client.get("/health")  # no key needed, as in llama-server
    assert llama_bad.status_code == 400
    assert set(llama_bad.json()["error"]) == {"code", "message", "type"}
    assert llama_bad.json()["error"]["code"] == 400
    assert llama_bad.json()["error"]["message"].startswith("prompt")
    assert llama_key.json()["error"]["type"] == "authentication_error"
    assert llama_method.status_code == 405 and llama_method.headers["allow"] == "POST"
    assert kobold_bad.status_code == 400
    assert kobold_bad.json()["detail"]["type"] == "bad_input"
    assert kobold_key.status_code == 401 and kobold_key.json()["detail"]["error"] == "Unauthorized"
    assert kobold_missing.status_code == 404 and kobold_missing.json() == {
        "detail": {"msg": "Invalid URL (GET /api/v1/nothing)", "type": "not_found"}
    }
    assert health.json() == {"status": "ok"}


def test_without_a_model_each_dialect_answers_503_in_its_shape() -> None:
    with TestClient(api_app(FixedModels(None))) as client:
        health = client.get("/health")
        completion = client.post("/completion", json={"prompt": "hi"})
        kobold = client.post("/api/v1/generate", json={"prompt": "hi"})
        model = client.get("/api/v1/model")
    assert health.status_code == completion.status_code == kobold.status_code == 503
    assert health.json()["error"]["type"] == "unavailable_error"
    assert kobold.json()["detail"]["type"] == "service_unavailable"
    assert model.json() == {"result": "ReadOnly"}


def test_unknown_fields_are_never_refused_on_any_route() -> None:
    backend = FakeBackend()
    extra = {"frobnicate": [1, {"x": None}], "api_type": "nonsense", "use_story": True}
    with TestClient(api_app(FixedModels(backend))) as client:
        answers = [
            client.post("/completion", json={**st_body("llamacpp"), **extra}),
            client.post("/api/v1/generate", json={**st_body("kobold"), **extra}),
            client.post("/v1/completions", json={**st_body("ooba"), **extra}),
            client.post("/tokenize", json={"content": "a", **extra}),
            client.post("/api/extra/tokencount", json={"prompt": "a", **extra}),
        ]
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
