"""Sampler settings: what the engine needs to build one llama.cpp sampler chain.

These are the engine's own names (llama.cpp's), with neutral defaults: a value at
its default disables that stage.  Presets (``app.presets``) map SillyTavern and
KoboldAI names onto this model; the API maps OpenAI request fields onto it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

#: Names of the stages whose order a preset may choose (SillyTavern ``samplers`` names).
SamplerStage = Literal[
    "penalties",
    "dry",
    "top_n_sigma",
    "top_k",
    "typical_p",
    "top_p",
    "min_p",
    "xtc",
    "temperature",
]

#: llama.cpp's default order (``tools/server/README.md``, ``--samplers``).
DEFAULT_ORDER: tuple[SamplerStage, ...] = (
    "penalties",
    "dry",
    "top_n_sigma",
    "top_k",
    "typical_p",
    "top_p",
    "min_p",
    "xtc",
    "temperature",
)

T = TypeVar("T")


def merge_order(order: Iterable[T], default: Sequence[T]) -> tuple[T, ...]:
    """Return ``order`` without duplicates and with every missing item of ``default`` added.

    A missing item goes right after the item that precedes it in ``default`` (or first).
    """
    result: list[T] = []
    for item in order:
        if item not in result:
            result.append(item)
    for index, item in enumerate(default):
        if item in result:
            continue
        before = [s for s in default[:index] if s in result]
        position = result.index(before[-1]) + 1 if before else 0
        result.insert(position, item)
    return tuple(result)


def complete_order(order: Iterable[SamplerStage]) -> tuple[SamplerStage, ...]:
    """``order`` with every stage it leaves out inserted at its llama.cpp default place.

    A partial list such as SillyTavern's 2024 ``samplers`` (which omits the penalties)
    therefore never silently switches a configured stage off.
    """
    return merge_order(order, DEFAULT_ORDER)


class SamplerSettings(BaseModel):
    """Every sampler llama.cpp offers, with neutral defaults (a default disables it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(1.0, ge=0.0, le=10.0, description="0 means greedy.")
    temperature_last: bool = Field(
        True, description="Apply temperature after the truncation samplers."
    )
    dynatemp_range: float = Field(
        0.0, ge=0.0, le=10.0, description="Dynamic temperature: ± range around temperature."
    )
    dynatemp_exponent: float = Field(1.0, ge=0.0, le=10.0)
    top_k: int = Field(0, ge=0, description="0 disables top-k.")
    top_p: float = Field(1.0, ge=0.0, le=1.0)
    min_p: float = Field(0.0, ge=0.0, le=1.0)
    typical_p: float = Field(1.0, ge=0.0, le=1.0)
    top_n_sigma: float = Field(-1.0, description="≤ 0 disables top-n-sigma.")
    repeat_penalty: float = Field(1.0, ge=0.0, le=10.0)
    repeat_last_n: int = Field(64, ge=-1, description="Penalty window; -1 = whole context.")
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    dry_multiplier: float = Field(0.0, ge=0.0, le=10.0, description="0 disables DRY.")
    dry_base: float = Field(1.75, ge=1.0, le=10.0)
    dry_allowed_length: int = Field(2, ge=1)
    dry_penalty_last_n: int = Field(-1, ge=-1)
    dry_sequence_breakers: tuple[str, ...] = ("\n", ":", '"', "*")
    xtc_threshold: float = Field(0.1, ge=0.0, le=1.0)
    xtc_probability: float = Field(0.0, ge=0.0, le=1.0, description="0 disables XTC.")
    mirostat_mode: Literal[0, 1, 2] = 0
    mirostat_tau: float = Field(5.0, ge=0.0)
    mirostat_eta: float = Field(0.1, ge=0.0)
    seed: int = Field(-1, description="-1 picks a fresh random seed per generation.")
    logit_bias: dict[int, float] = Field(default_factory=dict)
    banned_tokens: tuple[int, ...] = ()
    banned_strings: tuple[str, ...] = ()
    ban_eos: bool = False
    order: tuple[SamplerStage, ...] = DEFAULT_ORDER


_PENALTY_STAGES: frozenset[SamplerStage] = frozenset({"penalties", "dry"})


def stage_order(settings: SamplerSettings) -> tuple[SamplerStage, ...]:
    """The stages in the order the chain applies them (before neutral ones are skipped)."""
    order = list(complete_order(settings.order))
    if settings.temperature_last:
        order.remove("temperature")
        order.append("temperature")
    return tuple(order)


def active_stages(settings: SamplerSettings) -> tuple[SamplerStage, ...]:
    """The stages that actually go into the chain, in order (neutral ones left out)."""
    greedy = settings.temperature == 0
    mirostat = settings.mirostat_mode != 0 and not greedy
    stages: list[SamplerStage] = []
    for stage in stage_order(settings):
        if mirostat and stage not in _PENALTY_STAGES:
            continue
        if greedy and stage == "temperature":
            continue
        if stage_is_active(stage, settings):
            stages.append(stage)
    return tuple(stages)


def stage_is_active(stage: SamplerStage, s: SamplerSettings) -> bool:
    """Whether a stage changes anything at these settings."""
    checks: dict[SamplerStage, bool] = {
        "penalties": s.repeat_last_n != 0
        and (s.repeat_penalty != 1 or s.frequency_penalty != 0 or s.presence_penalty != 0),
        "dry": s.dry_multiplier > 0 and s.dry_penalty_last_n != 0,
        "top_n_sigma": s.top_n_sigma > 0,
        "top_k": s.top_k > 0,
        "typical_p": s.typical_p < 1,
        "top_p": s.top_p < 1,
        "min_p": s.min_p > 0,
        "xtc": s.xtc_probability > 0 and s.xtc_threshold <= 0.5,
        "temperature": s.temperature != 1 or s.dynatemp_range > 0,
    }
    return checks[stage]
