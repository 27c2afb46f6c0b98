"""Build a llama.cpp sampler chain from :class:`SamplerSettings` (llama-cpp-python 0.3.36).

``Llama._init_sampler`` fixes the order and offers no DRY, XTC, dynamic temperature or
top-n-sigma, so Parlor builds the chain itself from ``llama_cpp._internals.LlamaSampler``
(a private API: the version is pinned).  The chain is, like llama.cpp's own
``common_sampler``:

1. logit bias: ``logit_bias``, banned token ids (-inf) and, with ``ban_eos``, every
   end-of-generation token (-inf);
2. the stages in ``settings.order`` (missing stages completed at their default place;
   ``temperature_last`` moves temperature to the end); a stage at its neutral value is
   left out;
3. the final pick: ``greedy`` when temperature is 0, otherwise ``dist`` with the seed.

With mirostat (and temperature > 0) only the penalty stages (penalties, DRY) keep their
place; truncation and temperature are replaced by ``temp`` + ``mirostat``/``mirostat_v2``,
as llama.cpp does.  ``repeat_last_n`` / ``dry_penalty_last_n`` mean what they mean to
llama.cpp: -1 is the whole context and 0 switches the stage off.  Which stages are active
and in what order is decided in :mod:`app.engine.sampling`.  Banned strings and stop
strings are the generation loop's job, not the chain's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import llama_cpp
from llama_cpp._internals import LlamaSampler

from app.engine.sampling import SamplerSettings, SamplerStage, active_stages

#: llama.cpp's "pick a random seed" value.
RANDOM_SEED = 0xFFFFFFFF
#: Tokens the truncation samplers always keep.
MIN_KEEP = 1
#: Mirostat v1's ``m`` (tokens used to estimate s_hat), as in llama.cpp.
MIROSTAT_M = 100

_StageAdder = Callable[[Any, SamplerSettings, "_ChainContext"], None]


class _ChainContext:
    """What the stage adders need from the model, read once."""

    def __init__(self, model: llama_cpp.Llama, seed: int) -> None:
        self.model = model
        self.n_vocab: int = model.n_vocab()
        self.n_ctx: int = model.n_ctx()
        self.seed = seed if 0 <= seed < RANDOM_SEED else RANDOM_SEED

    def window(self, last_n: int) -> int:
        """A look-back window with -1 resolved to the context size."""
        return self.n_ctx if last_n < 0 else last_n


def token_biases(
    settings: SamplerSettings, n_vocab: int, eog_tokens: Callable[[], list[int]]
) -> dict[int, float]:
    """The logit-bias map: biases, banned ids and (with ban_eos) EOG tokens at -inf.

    Ids outside the vocabulary are left out: they cannot be sampled anyway.
    """
    bias = {t: b for t, b in settings.logit_bias.items() if 0 <= t < n_vocab}
    for token in settings.banned_tokens:
        if 0 <= token < n_vocab:
            bias[token] = float("-inf")
    if settings.ban_eos:
        for token in eog_tokens():
            bias[token] = float("-inf")
    return bias


def build_sampler_chain(
    model: llama_cpp.Llama,
    settings: SamplerSettings,
    *,
    seed: int,
    history: Sequence[int] = (),
    banned_now: Callable[[], set[int]] | None = None,
) -> LlamaSampler:
    """A llama.cpp sampler chain for ``settings`` (see the module docstring).

    ``seed`` is the resolved seed for dist, XTC and mirostat; a value outside
    0..2³²-2 (such as -1) lets llama.cpp pick a random one.  ``history`` (the prompt
    tokens already in the context) is fed to ``accept`` so the penalties and DRY see
    it, as llama.cpp's server does.  ``sampler.sample(ctx, -1)`` accepts the token it
    returns by itself: do not call ``accept`` again for sampled tokens.  ``banned_now``
    (for banned strings) returns the tokens banned at the position being sampled; it
    runs first in the chain, on the full vocabulary.
    """
    ctx = _ChainContext(model, seed)
    sampler: Any = LlamaSampler()  # type: ignore[no-untyped-call]  # untyped upstream
    if banned_now is not None:
        sampler.add_custom(_position_bans(banned_now))
    bias = token_biases(settings, ctx.n_vocab, lambda: _eog_tokens(model))
    if bias:
        sampler.add_logit_bias(ctx.n_vocab, bias)
    for stage in active_stages(settings):
        _ADDERS[stage](sampler, settings, ctx)
    if settings.temperature == 0:
        sampler.add_greedy()
    elif settings.mirostat_mode != 0:
        if settings.temperature != 1:
            sampler.add_temp(settings.temperature)
        if settings.mirostat_mode == 1:
            sampler.add_mirostat(
                ctx.n_vocab, ctx.seed, settings.mirostat_tau, settings.mirostat_eta, MIROSTAT_M
            )
        else:
            sampler.add_mirostat_v2(ctx.seed, settings.mirostat_tau, settings.mirostat_eta)
    else:
        sampler.add_dist(ctx.seed)
    for token in history:
        sampler.accept(token)
    chain: LlamaSampler = sampler
    return chain


def _position_bans(banned_now: Callable[[], set[int]]) -> Callable[[Any], None]:
    """A first-in-chain stage setting the currently banned tokens' logits to -inf.

    As the first stage it sees the whole vocabulary in id order (``data[id].id == id``).
    """

    def apply(candidates: Any) -> None:
        banned = banned_now()
        if not banned:
            return
        array = candidates.contents
        for token in banned:
            if 0 <= token < array.size:
                array.data[token].logit = float("-inf")

    return apply


def _eog_tokens(model: llama_cpp.Llama) -> list[int]:
    vocab = model._model.vocab
    n_vocab = model.n_vocab()
    return [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)]


def _add_penalties(sampler: Any, s: SamplerSettings, ctx: _ChainContext) -> None:
    sampler.add_penalties(
        ctx.n_vocab,
        ctx.window(s.repeat_last_n),
        s.repeat_penalty,
        s.frequency_penalty,
        s.presence_penalty,
    )


def _add_dry(sampler: Any, s: SamplerSettings, ctx: _ChainContext) -> None:
    sampler.add_dry(
        ctx.model._model,
        s.dry_multiplier,
        s.dry_base,
        s.dry_allowed_length,
        ctx.window(s.dry_penalty_last_n),
        list(s.dry_sequence_breakers),
    )


def _add_temperature(sampler: Any, s: SamplerSettings, _ctx: _ChainContext) -> None:
    if s.dynatemp_range > 0:
        sampler.add_temp_ext(s.temperature, s.dynatemp_range, s.dynatemp_exponent)
    else:
        sampler.add_temp(s.temperature)


_ADDERS: Mapping[SamplerStage, _StageAdder] = MappingProxyType(
    {
        "penalties": _add_penalties,
        "dry": _add_dry,
        "top_n_sigma": lambda smp, s, _c: smp.add_top_n_sigma(s.top_n_sigma),
        "top_k": lambda smp, s, _c: smp.add_top_k(s.top_k),
        "typical_p": lambda smp, s, _c: smp.add_typical(s.typical_p, MIN_KEEP),
        "top_p": lambda smp, s, _c: smp.add_top_p(s.top_p, MIN_KEEP),
        "min_p": lambda smp, s, _c: smp.add_min_p(s.min_p, MIN_KEEP),
        "xtc": lambda smp, s, c: smp.add_xtc(s.xtc_probability, s.xtc_threshold, MIN_KEEP, c.seed),
        "temperature": _add_temperature,
    }
)
