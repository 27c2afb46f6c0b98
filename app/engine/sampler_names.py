"""Other servers' sampler names and orders, mapped onto the engine's sampler stages.

llama.cpp's ``samplers`` names, text-generation-webui's ``sampler_priority``, Aphrodite's
``samplers_priorities`` and KoboldCpp's numeric ``sampler_order``: SillyTavern presets
carry them (``app.presets``) and so do the requests the API dialects take
(``app.api``).  Each maps onto :data:`~app.engine.sampling.SamplerStage` names; a sampler
Parlor has no stage for maps to nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from app.engine.sampling import SamplerStage, complete_order

#: SillyTavern's llama.cpp ``samplers`` names (and llama.cpp aliases) → Parlor stages.
LLAMACPP_STAGES: Final[Mapping[str, SamplerStage]] = MappingProxyType(
    {
        "penalties": "penalties",
        "dry": "dry",
        "top_n_sigma": "top_n_sigma",
        "top_k": "top_k",
        "typ_p": "typical_p",
        "typical_p": "typical_p",
        "typical": "typical_p",
        "top_p": "top_p",
        "min_p": "min_p",
        "xtc": "xtc",
        "temperature": "temperature",
        "temp": "temperature",
    }
)

#: Parlor stage → the name SillyTavern's ``LLAMACPP_DEFAULT_ORDER`` uses.
STAGE_TO_LLAMACPP: Final[Mapping[SamplerStage, str]] = MappingProxyType(
    {
        "penalties": "penalties",
        "dry": "dry",
        "top_n_sigma": "top_n_sigma",
        "top_k": "top_k",
        "typical_p": "typ_p",
        "top_p": "top_p",
        "min_p": "min_p",
        "xtc": "xtc",
        "temperature": "temperature",
    }
)

#: text-generation-webui ``sampler_priority`` names → Parlor stages (none: not a stage).
OOBA_STAGES: Final[Mapping[str, tuple[SamplerStage, ...]]] = MappingProxyType(
    {
        "repetition_penalty": ("penalties",),
        "presence_penalty": ("penalties",),
        "frequency_penalty": ("penalties",),
        "dry": ("dry",),
        "temperature": ("temperature",),
        "dynamic_temperature": ("temperature",),
        "quadratic_sampling": (),
        "top_n_sigma": ("top_n_sigma",),
        "top_k": ("top_k",),
        "top_p": ("top_p",),
        "typical_p": ("typical_p",),
        "epsilon_cutoff": (),
        "eta_cutoff": (),
        "tfs": (),
        "top_a": (),
        "min_p": ("min_p",),
        "mirostat": (),
        "xtc": ("xtc",),
        "encoder_repetition_penalty": (),
        "no_repeat_ngram": (),
    }
)

#: Aphrodite ``samplers_priorities`` names → Parlor stages.
APHRODITE_STAGES: Final[Mapping[str, tuple[SamplerStage, ...]]] = MappingProxyType(
    {
        "dry": ("dry",),
        "penalties": ("penalties",),
        "no_repeat_ngram": (),
        "temperature": ("temperature",),
        "top_nsigma": ("top_n_sigma",),
        "top_p_top_k": ("top_k", "top_p"),
        "top_a": (),
        "min_p": ("min_p",),
        "tfs": (),
        "eta_cutoff": (),
        "epsilon_cutoff": (),
        "typical_p": ("typical_p",),
        "quadratic": (),
        "xtc": ("xtc",),
    }
)

#: llama.cpp sampler names that are real samplers but not Parlor stages.
LLAMACPP_OTHER_SAMPLERS: Final[frozenset[str]] = frozenset(
    {"tfs_z", "tfs", "adaptive_p", "infill", "top_a", "mirostat"}
)

#: KoboldCpp ``sampler_order`` indices → Parlor stages (1 Top-A and 3 TFS have none).
KOBOLD_INDEX_STAGES: Final[Mapping[int, tuple[SamplerStage, ...]]] = MappingProxyType(
    {
        0: ("top_k",),
        1: (),
        2: ("top_p", "min_p"),
        3: (),
        4: ("typical_p",),
        5: ("temperature",),
        6: ("penalties",),
    }
)

#: KoboldCpp's default order (``KOBOLDCPP_ORDER``).
KOBOLD_DEFAULT_ORDER: Final[tuple[int, ...]] = (6, 0, 1, 3, 4, 2, 5)


def llamacpp_order(names: Iterable[str]) -> tuple[tuple[SamplerStage, ...], list[str]]:
    """llama.cpp ``samplers`` names as a full stage order, and the names it does not know."""
    stages: list[SamplerStage] = []
    unknown: list[str] = []
    for name in names:
        stage = LLAMACPP_STAGES.get(name)
        if stage is None:
            if name not in LLAMACPP_OTHER_SAMPLERS:
                unknown.append(name)
        elif stage not in stages:
            stages.append(stage)
    return complete_order(stages), unknown


def kobold_order(indices: Iterable[int]) -> tuple[tuple[SamplerStage, ...], list[int]]:
    """KoboldCpp ``sampler_order`` indices as a full stage order, and unknown indices."""
    stages: list[SamplerStage] = []
    unknown: list[int] = []
    for index in indices:
        if index not in KOBOLD_INDEX_STAGES:
            unknown.append(index)
            continue
        stages.extend(stage for stage in KOBOLD_INDEX_STAGES[index] if stage not in stages)
    return complete_order(stages), unknown


def named_order(
    names: Iterable[str], table: Mapping[str, tuple[SamplerStage, ...]]
) -> tuple[SamplerStage, ...]:
    """``sampler_priority``-style names (``table``: OOBA or APHRODITE) as a stage order."""
    stages: list[SamplerStage] = []
    for name in names:
        stages.extend(stage for stage in table.get(name, ()) if stage not in stages)
    return complete_order(stages)
