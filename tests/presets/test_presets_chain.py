"""The llama.cpp sampler chain built from SamplerSettings, checked on SmolLM2-135M.

The decode helper drives the chain by hand: ``llama.eval`` the prompt, then
``sampler.sample(ctx, -1)`` per token.  ``llama_sampler_sample`` already calls
``accept`` on the token it returns, so the helper does not call it a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import llama_cpp
import numpy as np
import pytest

from app.engine.sampler_chain import RANDOM_SEED, build_sampler_chain, token_biases
from app.engine.sampling import DEFAULT_ORDER, SamplerSettings, active_stages, stage_order

STORY = "<|im_start|>user\nWrite a story about a cat.<|im_end|>\n<|im_start|>assistant\n"
CYCLE = "the cat sat on the mat,"
LOOP = (
    f"<|im_start|>user\nRepeat after me forever: {CYCLE} {CYCLE} {CYCLE}<|im_end|>\n"
    f"<|im_start|>assistant\n{CYCLE} {CYCLE} {CYCLE} {CYCLE}"
)
SHORT = "<|im_start|>user\nIs the sky blue? Answer yes or no.<|im_end|>\n<|im_start|>assistant\n"


def _tokens(llama: Any, text: str) -> list[int]:
    tokens: list[int] = llama.tokenize(text.encode(), add_bos=True, special=True)
    return tokens


def _is_eog(llama: Any, token: int) -> bool:
    return bool(llama_cpp.llama_vocab_is_eog(llama._model.vocab, token))


def decode(
    llama: Any, prompt: str, settings: SamplerSettings, *, seed: int = 1, n: int = 12
) -> list[int]:
    """Generate up to ``n`` tokens with a freshly built chain; stop at end-of-generation."""
    tokens = _tokens(llama, prompt)
    llama.reset()
    llama.eval(tokens)
    sampler = build_sampler_chain(llama, settings, seed=seed, history=tokens)
    out: list[int] = []
    for _ in range(n):
        token = int(sampler.sample(llama._ctx, -1))
        out.append(token)
        if _is_eog(llama, token):
            break
        llama.eval([token])
    return out


def first_step(llama: Any, prompt: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Evaluate ``prompt`` and return the next-token probabilities (plain softmax)."""
    llama.reset()
    llama.eval(_tokens(llama, prompt))
    logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))
    z = logits.astype(np.float64) - float(logits.max())
    probs: np.ndarray[Any, np.dtype[np.float64]] = np.exp(z) / np.exp(z).sum()
    return probs


def sample_once(
    llama: Any, settings: SamplerSettings, seed: int, history: Sequence[int] = ()
) -> int:
    """Sample one token from the logits already in the context."""
    sampler = build_sampler_chain(llama, settings, seed=seed, history=history)
    return int(sampler.sample(llama._ctx, -1))


def chain_names(llama: Any, settings: SamplerSettings) -> list[str]:
    chain = build_sampler_chain(llama, settings, seed=1).sampler
    return [
        llama_cpp.llama_sampler_name(llama_cpp.llama_sampler_chain_get(chain, i)).decode()
        for i in range(llama_cpp.llama_sampler_chain_n(chain))
    ]


def text(llama: Any, tokens: Sequence[int]) -> str:
    return bytes(llama.detokenize(list(tokens))).decode("utf-8", "replace")


# -- pure: stage selection ------------------------------------------------------------------


def test_neutral_settings_have_no_stages() -> None:
    assert active_stages(SamplerSettings()) == ()
    assert stage_order(SamplerSettings()) == DEFAULT_ORDER


def test_temperature_last_moves_temperature() -> None:
    s = SamplerSettings(temperature=0.7, min_p=0.1, order=("temperature", *DEFAULT_ORDER[:-1]))
    assert active_stages(s) == ("min_p", "temperature")
    assert active_stages(s.model_copy(update={"temperature_last": False})) == (
        "temperature",
        "min_p",
    )


def test_mirostat_keeps_only_penalty_stages_and_greedy_drops_temperature() -> None:
    s = SamplerSettings(
        temperature=0.8, top_k=40, min_p=0.1, repeat_penalty=1.1, dry_multiplier=0.8
    )
    assert active_stages(s.model_copy(update={"mirostat_mode": 2})) == ("penalties", "dry")
    assert active_stages(s.model_copy(update={"temperature": 0.0})) == (
        "penalties",
        "dry",
        "top_k",
        "min_p",
    )


def test_token_biases() -> None:
    s = SamplerSettings(logit_bias={5: 2.0, 10**6: 1.0}, banned_tokens=(7, 10**6), ban_eos=True)
    bias = token_biases(s, 1000, lambda: [0, 2])
    assert bias == {5: 2.0, 7: float("-inf"), 0: float("-inf"), 2: float("-inf")}
    assert token_biases(SamplerSettings(), 1000, lambda: [0]) == {}


# -- with the model ------------------------------------------------------------------------


@pytest.mark.model
def test_chain_structure(llama: Any) -> None:
    assert chain_names(llama, SamplerSettings()) == ["dist"]
    everything = SamplerSettings(
        temperature=1.2,
        dynatemp_range=0.5,
        top_k=40,
        top_p=0.9,
        min_p=0.05,
        typical_p=0.95,
        top_n_sigma=1.5,
        repeat_penalty=1.1,
        dry_multiplier=0.8,
        xtc_probability=0.5,
        banned_tokens=(5,),
    )
    assert chain_names(llama, everything) == [
        "logit-bias",
        "penalties",
        "dry",
        "top-n-sigma",
        "top-k",
        "typical",
        "top-p",
        "min-p",
        "xtc",
        "temp-ext",
        "dist",
    ]
    mirostat = everything.model_copy(update={"mirostat_mode": 1})
    assert chain_names(llama, mirostat) == ["logit-bias", "penalties", "dry", "temp", "mirostat"]
    greedy = SamplerSettings(temperature=0.0, min_p=0.1)
    assert chain_names(llama, greedy) == ["min-p", "greedy"]


@pytest.mark.model
def test_temperature_zero_is_deterministic_greedy(llama: Any) -> None:
    probs = first_step(llama, STORY)
    first = decode(llama, STORY, SamplerSettings(temperature=0.0), seed=1, n=8)
    again = decode(llama, STORY, SamplerSettings(temperature=0.0), seed=99, n=8)
    assert first == again
    assert first[0] == int(np.argmax(probs))


@pytest.mark.model
def test_fixed_seed_reproduces_and_another_seed_differs(llama: Any) -> None:
    hot = SamplerSettings(temperature=1.5)
    one = decode(llama, STORY, hot, seed=1, n=8)
    assert decode(llama, STORY, hot, seed=1, n=8) == one
    assert decode(llama, STORY, hot, seed=2, n=8) != one


@pytest.mark.model
def test_dry_breaks_a_forced_loop(llama: Any) -> None:
    greedy = text(llama, decode(llama, LOOP, SamplerSettings(temperature=0.0), n=10))
    assert greedy.startswith(f" {CYCLE} the cat")  # without DRY the model keeps looping
    dry = text(llama, decode(llama, LOOP, SamplerSettings(temperature=0.0, dry_multiplier=0.8)))
    assert not dry.startswith(" the cat")
    assert f"mat, {CYCLE}" not in dry


@pytest.mark.model
def test_repeat_penalty_sees_the_prompt_history(llama: Any) -> None:
    history = _tokens(llama, LOOP)
    first_step(llama, LOOP)
    penalty = SamplerSettings(temperature=0.0, repeat_penalty=1.5)
    greedy = sample_once(llama, SamplerSettings(temperature=0.0), 1, history)
    assert sample_once(llama, penalty, 1, history) != greedy
    assert sample_once(llama, penalty, 1) == greedy  # without the history nothing repeats


@pytest.mark.model
def test_xtc_with_probability_one_removes_the_top_choices(llama: Any) -> None:
    threshold = 0.1
    probs = first_step(llama, STORY)
    above = np.flatnonzero(probs >= threshold)
    assert len(above) >= 2  # precondition: XTC only acts when two tokens pass
    assert not np.any(np.abs(probs - threshold) < 1e-3)
    expected = int(above[np.argmin(probs[above])])  # XTC keeps the least likely of them
    xtc = SamplerSettings(temperature=0.0, xtc_probability=1.0, xtc_threshold=threshold)
    for seed in (1, 2, 3):
        token = sample_once(llama, xtc, seed)
        assert token == expected
        assert token != int(np.argmax(probs))


@pytest.mark.model
def test_banned_and_biased_tokens(llama: Any) -> None:
    greedy = decode(llama, STORY, SamplerSettings(temperature=0.0), n=6)
    banned = SamplerSettings(temperature=0.0, banned_tokens=(greedy[0], greedy[1]))
    out = decode(llama, STORY, banned, n=6)
    assert greedy[0] not in out and greedy[1] not in out
    first_step(llama, STORY)
    hot = SamplerSettings(temperature=3.0, banned_tokens=tuple(greedy[:3]))
    assert not set(greedy[:3]) & {sample_once(llama, hot, seed) for seed in range(30)}

    target = _tokens(llama, " banana")[-1]
    first_step(llama, STORY)
    favoured = SamplerSettings(temperature=1.0, logit_bias={target: 30.0})
    assert all(sample_once(llama, favoured, seed) == target for seed in (1, 2, 3))


@pytest.mark.model
def test_ban_eos_keeps_generating(llama: Any) -> None:
    greedy = decode(llama, SHORT, SamplerSettings(temperature=0.0), n=20)
    assert _is_eog(llama, greedy[-1]) and len(greedy) < 12  # the model stops on its own
    longer = decode(llama, SHORT, SamplerSettings(temperature=0.0, ban_eos=True), n=len(greedy) + 4)
    assert len(longer) == len(greedy) + 4
    assert not any(_is_eog(llama, t) for t in longer)


@pytest.mark.model
def test_min_p_before_or_after_a_high_temperature(llama: Any) -> None:
    probs = first_step(llama, STORY)
    allowed = set(np.flatnonzero(probs >= 0.2 * probs.max()).tolist())
    first = SamplerSettings(temperature=4.0, min_p=0.2, order=("min_p", "temperature"))
    after = first.model_copy(update={"temperature_last": False, "order": ("temperature", "min_p")})
    seeds = range(24)
    truncated_first = {sample_once(llama, first, seed) for seed in seeds}
    truncated_after = {sample_once(llama, after, seed) for seed in seeds}
    assert truncated_first <= allowed
    assert truncated_after - allowed  # a flattened distribution lets unlikely tokens through


@pytest.mark.model
def test_mirostat_and_dynatemp_run_reproducibly(llama: Any) -> None:
    for settings in (
        SamplerSettings(temperature=0.9, mirostat_mode=1, mirostat_tau=4.0),
        SamplerSettings(temperature=0.9, mirostat_mode=2, mirostat_tau=4.0),
        SamplerSettings(temperature=1.0, dynatemp_range=0.5, min_p=0.05),
    ):
        one = decode(llama, STORY, settings, seed=3, n=4)
        assert decode(llama, STORY, settings, seed=3, n=4) == one
        assert len(one) >= 1


@pytest.mark.model
def test_out_of_range_seed_means_random(llama: Any) -> None:
    first_step(llama, STORY)
    s = SamplerSettings(temperature=2.0)
    picks = {sample_once(llama, s, -1) for _ in range(12)}
    assert len(picks) > 1
    assert RANDOM_SEED == 0xFFFFFFFF
