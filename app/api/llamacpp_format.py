"""llama-server's answer shapes: the final ``/completion`` object, stream chunks, probs.

Counts follow llama-server: ``tokens_evaluated`` is the prompt's length, while
``timings.prompt_n`` is what was really evaluated and ``tokens_cached`` (and
``timings.cache_n``) what the KV cache already held.  ``completion_probabilities``
carries both the current format (``id``, ``token``, ``logprob``, ``top_logprobs``) and
the one SillyTavern 1.12 reads (``content``, ``probs: [{tok_str, prob}]``).
"""

from __future__ import annotations

from typing import Any

from app.api.logprobs import logprob
from app.engine.base import Finished, GenerationRequest, GenerationStats, TokenProb, TokenProbs
from app.engine.sampler_names import STAGE_TO_LLAMACPP
from app.engine.sampling import SamplerSettings, stage_order

#: Engine finish reason → llama-server's ``stop_type`` (a stop string: "word").
STOP_TYPES = {"stop": "eos", "length": "limit", "aborted": "none", "error": "none"}


def stop_type(finished: Finished) -> str:
    """``eos``, ``word``, ``limit`` or ``none`` (stopped by the client)."""
    if finished.finish_reason == "stop" and finished.stop_word:
        return "word"
    return STOP_TYPES[finished.finish_reason]


def timings(stats: GenerationStats) -> dict[str, float | int]:
    """llama-server's ``timings`` object."""
    prompt_ms, predicted_ms = stats.prompt_seconds * 1000, stats.decode_seconds * 1000
    return {
        "cache_n": stats.tokens_reused,
        "prompt_n": stats.tokens_evaluated,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": _per(prompt_ms, stats.tokens_evaluated),
        "prompt_per_second": _rate(stats.tokens_evaluated, prompt_ms),
        "predicted_n": stats.completion_tokens,
        "predicted_ms": predicted_ms,
        "predicted_per_token_ms": _per(predicted_ms, stats.completion_tokens),
        "predicted_per_second": _rate(stats.completion_tokens, predicted_ms),
    }


def _per(ms: float, n: int) -> float:
    return ms / n if n else 0.0


def _rate(n: int, ms: float) -> float:
    return n * 1000 / ms if ms > 0 else 0.0


def llama_params(sampler: SamplerSettings) -> dict[str, Any]:
    """Sampler settings under llama-server's names (``generation_settings``)."""
    return {
        "temperature": sampler.temperature,
        "dynatemp_range": sampler.dynatemp_range,
        "dynatemp_exponent": sampler.dynatemp_exponent,
        "top_k": sampler.top_k,
        "top_p": sampler.top_p,
        "min_p": sampler.min_p,
        "typical_p": sampler.typical_p,
        "top_n_sigma": sampler.top_n_sigma,
        "xtc_probability": sampler.xtc_probability,
        "xtc_threshold": sampler.xtc_threshold,
        "repeat_last_n": sampler.repeat_last_n,
        "repeat_penalty": sampler.repeat_penalty,
        "presence_penalty": sampler.presence_penalty,
        "frequency_penalty": sampler.frequency_penalty,
        "dry_multiplier": sampler.dry_multiplier,
        "dry_base": sampler.dry_base,
        "dry_allowed_length": sampler.dry_allowed_length,
        "dry_penalty_last_n": sampler.dry_penalty_last_n,
        "dry_sequence_breakers": list(sampler.dry_sequence_breakers),
        "mirostat": sampler.mirostat_mode,
        "mirostat_tau": sampler.mirostat_tau,
        "mirostat_eta": sampler.mirostat_eta,
        "seed": sampler.seed if sampler.seed >= 0 else 0xFFFFFFFF,
        "ignore_eos": sampler.ban_eos,
        "samplers": [STAGE_TO_LLAMACPP[stage] for stage in stage_order(sampler)],
    }


def settings_of(generation: GenerationRequest, n_ctx: int, model: str) -> dict[str, Any]:
    """``generation_settings`` of one request."""
    return {
        "n_ctx": n_ctx,
        "model": model,
        "n_predict": generation.max_new_tokens,
        "stop": list(generation.stop),
        "n_probs": generation.n_probs,
        "grammar": generation.grammar or "",
        **llama_params(generation.sampler),
    }


def probabilities(probs: tuple[TokenProbs, ...]) -> list[dict[str, Any]]:
    """``completion_probabilities`` entries, one per generated token."""
    return [_entry(p) for p in probs]


def _entry(probs: TokenProbs) -> dict[str, Any]:
    return {
        **_token(probs.token),
        "top_logprobs": [_token(t) for t in probs.top],
        "content": probs.token.text,
        "probs": [{"tok_str": t.text, "prob": t.prob} for t in probs.top],
    }


def _token(token: TokenProb) -> dict[str, Any]:
    return {
        "id": token.id,
        "token": token.text,
        "bytes": list(token.text.encode("utf-8")),
        "logprob": logprob(token.prob),
    }


def final(
    finished: Finished, index: int, generation: GenerationRequest, model: str, n_ctx: int
) -> dict[str, Any]:
    """The last object of a completion (the whole answer when not streaming)."""
    stats = finished.stats
    out: dict[str, Any] = {
        "index": index,
        "content": finished.text,
        "tokens": [],
        "id_slot": 0,
        "stop": True,
        "model": model,
        "tokens_predicted": stats.completion_tokens,
        "tokens_evaluated": stats.prompt_tokens,
        "generation_settings": settings_of(generation, n_ctx, model),
        "prompt": generation.prompt_text or "",
        "has_new_line": "\n" in finished.text,
        "truncated": False,
        "stop_type": stop_type(finished),
        "stopping_word": finished.stop_word or "",
        "tokens_cached": stats.tokens_reused,
        "timings": timings(stats),
    }
    if generation.n_probs:
        out["completion_probabilities"] = probabilities(finished.probs)
    return out
