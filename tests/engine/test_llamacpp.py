"""The in-process llama.cpp backend, with the real SmolLM2 model."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from app.engine.base import Finished, GenerationRequest, TextDelta
from app.engine.llamacpp import LlamaCppBackend, LoadOptions
from app.engine.sampling import SamplerSettings
from app.errors import ContextLengthExceeded, ModelNotLoaded

pytestmark = pytest.mark.model

CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


def generate(
    backend: LlamaCppBackend, prompt: str, **kwargs: object
) -> tuple[str, Finished, list[str]]:
    sampler = SamplerSettings(**kwargs.pop("sampler", {}))  # type: ignore[arg-type]
    request = GenerationRequest(backend.tokenize(prompt), sampler, **kwargs)  # type: ignore[arg-type]
    deltas, finished = [], None
    for event in backend.stream(request):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            finished = event
    assert finished is not None
    return "".join(deltas), finished, deltas


def test_model_info(smollm: LlamaCppBackend) -> None:
    info = smollm.info
    assert info.architecture == "llama"
    assert info.n_ctx == 2048 and info.n_ctx_train == 8192
    assert info.eos_token == "<|im_end|>"
    assert "<|im_start|>" in info.special_tokens
    assert info.chat_template and "<|im_start|>" in info.chat_template


def test_tokenization_round_trips(smollm: LlamaCppBackend) -> None:
    text = "<|im_start|>user\nCafé ☕, naïve 日本語 — *waves*<|im_end|>\n"
    tokens = smollm.tokenize(text)
    assert tokens[0] == smollm.tokenize("<|im_start|>")[0]  # special token parsed
    assert smollm.detokenize(tokens) == text
    assert smollm.count_tokens(text) == len(tokens)


def test_token_counts_are_remembered(
    smollm: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prompt builder counts every message line every turn: once is enough."""
    real = smollm.llama.tokenize
    calls: list[bytes] = []

    def counting(text: bytes, *args: object, **kwargs: object) -> list[int]:
        calls.append(text)
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(smollm.llama, "tokenize", counting)
    line = "<|im_start|>user\nA line the prompt builder counts on every turn.<|im_end|>\n"
    first, again = smollm.count_tokens(line), smollm.count_tokens(line)
    assert first == again == len(real(line.encode(), add_bos=False, special=True))
    assert calls == [line.encode()]


def test_greedy_is_deterministic_and_streams_the_same_text(smollm: LlamaCppBackend) -> None:
    prompt = CHATML.format("Tell me a long story about a dragon.")
    first, done, deltas = generate(smollm, prompt, sampler={"temperature": 0}, max_new_tokens=12)
    again, _, _ = generate(smollm, prompt, sampler={"temperature": 0}, max_new_tokens=12)
    assert first == again == done.text
    assert len(deltas) > 1 and first.strip()
    assert done.stats.completion_tokens == 12 and done.finish_reason == "length"


def test_a_reply_cut_at_its_length_leaves_its_last_token_unevaluated(
    smollm: LlamaCppBackend,
) -> None:
    """Nothing samples after the last token, so it is not evaluated (as llama-server
    does); continuing the reply still reuses everything before it."""
    prompt = CHATML.format("Tell me a long story about a dragon.")
    n_prompt = len(smollm.tokenize(prompt))
    text, done, _ = generate(smollm, prompt, sampler={"temperature": 0}, max_new_tokens=12)
    assert done.finish_reason == "length" and done.stats.completion_tokens == 12
    assert smollm.llama.n_tokens == n_prompt + 11
    _, more, _ = generate(smollm, prompt + text, sampler={"temperature": 0}, max_new_tokens=2)
    assert more.stats.tokens_reused >= n_prompt + 9
    assert more.stats.tokens_evaluated <= 3


def test_fixed_seed_reproduces_cold_and_from_the_cache(smollm: LlamaCppBackend) -> None:
    prompt = CHATML.format("Write a line of a poem about the sea.")
    sampler = {"temperature": 1.2, "seed": 1234}
    smollm.llama.reset()
    a, done_a, _ = generate(smollm, prompt, sampler=sampler, max_new_tokens=24)
    b, done_b, _ = generate(smollm, prompt, sampler=sampler, max_new_tokens=24)
    assert done_a.stats.tokens_reused == 0 and done_b.stats.tokens_evaluated == 1
    assert a == b and done_a.stats.seed == 1234
    other, _, _ = generate(smollm, prompt, sampler={**sampler, "seed": 99}, max_new_tokens=24)
    assert other != a


def test_second_request_reuses_the_cached_prompt(smollm: LlamaCppBackend) -> None:
    prompt = CHATML.format("Say hello to the tavern keeper, in one sentence please.")
    generate(smollm, prompt, sampler={"temperature": 0}, max_new_tokens=4)
    _, done, _ = generate(smollm, prompt, sampler={"temperature": 0}, max_new_tokens=4)
    assert done.stats.tokens_evaluated == 1
    assert done.stats.tokens_reused == done.stats.prompt_tokens - 1


def test_stop_string_ends_the_reply_and_is_not_shown(smollm: LlamaCppBackend) -> None:
    prompt = CHATML.format("Tell me a long story about a dragon.")
    full, _, _ = generate(smollm, prompt, sampler={"temperature": 0}, max_new_tokens=30)
    stop = full.split()[5]  # a word in the middle of the greedy reply
    cut, done, _ = generate(
        smollm, prompt, sampler={"temperature": 0}, max_new_tokens=30, stop=(stop,)
    )
    assert done.finish_reason == "stop"
    assert cut == full[: full.index(stop)]


def test_end_of_turn_token_stops(smollm: LlamaCppBackend) -> None:
    _, done, _ = generate(
        smollm,
        CHATML.format("What is the capital of France?"),
        sampler={"temperature": 0},
        max_new_tokens=200,
    )
    assert done.finish_reason == "stop"
    assert done.stats.completion_tokens < 200
    assert "<|im_end|>" not in done.text


def test_prompt_longer_than_the_context_is_refused(smollm: LlamaCppBackend) -> None:
    request = GenerationRequest([1] * 4000)
    with pytest.raises(ContextLengthExceeded) as caught:
        list(smollm.stream(request))
    assert caught.value.n_ctx == 2048


def test_stop_during_prompt_processing(smollm: LlamaCppBackend) -> None:
    long_prompt = CHATML.format(" ".join(f"word{i}" for i in range(450)))
    tokens = smollm.tokenize(long_prompt)
    smollm.tokenize("x")  # warm
    assert 1200 < len(tokens) < 2000  # several batches of 512
    timer = threading.Timer(0.15, smollm.abort)
    timer.start()
    events = list(smollm.stream(GenerationRequest(tokens, SamplerSettings(temperature=0), 8)))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.finish_reason == "aborted"
    assert finished.stats.completion_tokens == 0
    # Stopped inside prompt processing: not every prompt token was evaluated.
    assert finished.stats.tokens_reused + finished.stats.tokens_evaluated < len(tokens)
    # The cache stays consistent: the same prompt now gives exactly what a cold run gives.
    after, _, _ = generate(smollm, long_prompt, sampler={"temperature": 0}, max_new_tokens=6)
    smollm.llama.reset()
    smollm.llama._ctx.kv_cache_clear()
    cold, _, _ = generate(smollm, long_prompt, sampler={"temperature": 0}, max_new_tokens=6)
    assert after == cold


def _finish_in_thread(
    backend: LlamaCppBackend, request: GenerationRequest
) -> tuple[threading.Thread, list[Finished]]:
    """Stream ``request`` in a thread (it waits for the backend's lock); collect its end."""
    ends: list[Finished] = []

    def run() -> None:
        ends.extend(e for e in backend.stream(request) if isinstance(e, Finished))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, ends


def test_cancel_stops_only_its_own_request(smollm: LlamaCppBackend) -> None:
    """An API client that leaves must not stop a UI reply on the same model, nor back."""
    tokens = smollm.tokenize(CHATML.format("Tell me about the sea."))
    endless = SamplerSettings(temperature=0, ban_eos=True)
    running = GenerationRequest(tokens, endless, max_new_tokens=12)
    waiting = GenerationRequest(tokens, endless, max_new_tokens=5)
    events = smollm.stream(running)
    assert isinstance(next(events), TextDelta)  # ``running`` now holds the model
    thread, ends = _finish_in_thread(smollm, waiting)
    running.cancel.set()
    stopped = [e for e in events if isinstance(e, Finished)][-1]
    thread.join(60)
    assert stopped.finish_reason == "aborted" and stopped.stats.completion_tokens < 12
    assert ends[0].finish_reason == "length" and ends[0].stats.completion_tokens == 5

    # The other way round: the waiting request is cancelled; the running one is untouched.
    running, waiting = (GenerationRequest(tokens, endless, max_new_tokens=n) for n in (6, 5))
    events = smollm.stream(running)
    first = next(events)
    thread, ends = _finish_in_thread(smollm, waiting)
    waiting.cancel.set()
    done = [e for e in events if isinstance(e, Finished)][-1]
    thread.join(60)
    assert isinstance(first, TextDelta)
    assert done.finish_reason == "length" and done.stats.completion_tokens == 6
    assert ends[0].finish_reason == "aborted" and ends[0].stats.completion_tokens == 0


def test_banned_strings_never_appear(smollm: LlamaCppBackend) -> None:
    prompt = CHATML.format("What is the capital of France?")
    free, _, _ = generate(smollm, prompt, sampler={"temperature": 0}, max_new_tokens=24)
    assert "Paris" in free
    banned, done, deltas = generate(
        smollm,
        prompt,
        max_new_tokens=24,
        sampler={"temperature": 0, "banned_strings": ("paris", "capital of")},
    )
    assert "paris" not in banned.lower() and "capital of" not in banned.lower()
    assert banned.strip() and "".join(deltas) == banned == done.text


def test_a_reply_cut_inside_a_character_never_stores_a_replacement_character(
    smollm: LlamaCppBackend,
) -> None:
    """Thai letters take several byte tokens; a length cut between them drops the partial."""
    target = "ตกใจ ตกใจ"
    for limit in range(1, 14):
        request = GenerationRequest(
            smollm.tokenize(CHATML.format("Write a Thai word.")),
            SamplerSettings(temperature=0),
            max_new_tokens=limit,
            grammar=f'root ::= "{target}"',
        )
        events = list(smollm.stream(request))
        finished = events[-1]
        assert isinstance(finished, Finished)
        streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert "\ufffd" not in finished.text and streamed == finished.text
        assert target.startswith(finished.text), (limit, finished.text)


def test_closing_the_model_stops_background_work_rather_than_waiting(smollm_path: Path) -> None:
    """Unloading while a group member's slot is filled ahead of time stops the fill."""
    backend = LlamaCppBackend.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    tokens = backend.tokenize(CHATML.format(" ".join(f"word{i}" for i in range(450))))
    fill = replace(GenerationRequest(tokens, SamplerSettings(temperature=0), 0), background=True)
    thread, ends = _finish_in_thread(backend, fill)
    while not backend._lock.locked():  # the fill holds the model
        time.sleep(0.001)
    backend.close()
    thread.join(60)
    assert ends[0].finish_reason == "aborted"
    assert ends[0].stats.tokens_evaluated < len(tokens)
    with pytest.raises(ModelNotLoaded):  # a request that comes after finds no model
        list(backend.stream(GenerationRequest(tokens[:8], SamplerSettings(), 1)))


def test_a_load_cut_short_keeps_the_saved_state_it_started_from(smollm: LlamaCppBackend) -> None:
    """A chat's slot filled ahead of its turn (a new story so far at the top) gives way
    to a reply: the chat's saved state must outlive the fill, or the reply evaluates the
    whole chat again."""
    history = " ".join(f"apple{i}" for i in range(300))
    chat_a = CHATML.format(history)
    generate(smollm, chat_a, max_new_tokens=1)
    generate(smollm, CHATML.format(" ".join(f"pear{i}" for i in range(300))), max_new_tokens=1)
    ahead = CHATML.format("The story so far: the orchard burned down. " * 30 + history)
    timer = threading.Timer(0.15, smollm.abort)
    timer.start()
    _, cut, _ = generate(smollm, ahead, max_new_tokens=0)
    assert cut.finish_reason == "aborted" and smollm.last_load is not None
    assert smollm.last_load.restored  # chat A's state, then cut short in the new story
    _, done, _ = generate(smollm, ahead, max_new_tokens=1)
    assert smollm.last_load.restored
    assert done.stats.tokens_evaluated < len(smollm.tokenize(ahead)) - 600, done.stats
