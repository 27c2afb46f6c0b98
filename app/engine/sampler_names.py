"""Other servers' sampler names and orders, mapped onto the engine's sampler stages.

llama.cpp's ``samplers`` names, text-generation-webui's ``sampler_priority``, Aphrodite's
``samplers_priorities`` and KoboldCpp's numeric ``sampler_order``: SillyTavern presets
carry them (``app.presets``) and so do the requests the API dialects take
(``app.api``).  Each maps onto :data:`~app.engine.sampling.SamplerStage` names; a sampler
Parlor has no stage for maps to nothing.  The servers also disagree on what a look-back
window of 0 or -1 means (:func:`penalty_window`, :func:`dry_window`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final, Literal

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


# -- look-back windows: what 0 and -1 mean to each server -------------------------------

#: The servers whose requests (and SillyTavern's presets for them) Parlor reads, by
#: SillyTavern's ``api_type`` names.
Server = Literal["llamacpp", "koboldcpp", "ooba", "tabby", "vllm"]
SERVERS: Final[tuple[Server, ...]] = ("llamacpp", "koboldcpp", "ooba", "tabby", "vllm")


def penalty_window(server: Server, value: int) -> int:
    """A repetition-penalty look-back (``repeat_last_n``, ``rep_pen_range``,
    ``repetition_penalty_range``, ``penalty_range``) as ``server`` reads it, in Parlor's
    terms (``repeat_last_n``: -1 the whole context, 0 off, else that many tokens).

    llama.cpp: 0 is off, -1 the context.  KoboldCpp raises anything below 1 to 1 (the
    last token only).  text-generation-webui: 0 is the whole context.  TabbyAPI: -1 is
    the whole context, 0 off.  vLLM has no window: its penalty sees everything.
    """
    if server == "vllm":
        return -1
    if value > 0:
        return value
    if server == "koboldcpp":
        return 1
    if server == "ooba":
        return -1
    return -1 if value < 0 else 0


def dry_window(server: Server, value: int) -> int:
    """A DRY look-back (``dry_penalty_last_n``, ``dry_range``) as ``server`` reads it, in
    Parlor's terms (-1 the whole context, 0 off).

    llama.cpp: 0 is off, -1 the context; KoboldCpp, text-generation-webui and TabbyAPI
    (and vLLM, which has no DRY of its own): 0 and below are the whole context.
    """
    if value > 0:
        return value
    if server == "llamacpp":
        return -1 if value < 0 else 0
    return -1
