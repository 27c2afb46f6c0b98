"""Sampler settings: what the engine needs to build one llama.cpp sampler chain.

These are the engine's own names (llama.cpp's), with neutral defaults: a value at
its default disables that stage.  Presets (``app.presets``) map SillyTavern and
KoboldAI names onto this model; the API maps OpenAI request fields onto it.
"""

from __future__ import annotations

from typing import Literal

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
