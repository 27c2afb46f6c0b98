"""SillyTavern preset key tables: export templates, stage names, keys Parlor cannot honour.

Sources: ``default/content/presets/textgen/Neutral.json`` and ``kobold/Neutral.json`` at
SillyTavern 1.18 (key order and neutral values), ``public/scripts/textgen-settings.js``
(``setting_names``, ``LLAMACPP_DEFAULT_ORDER``) and ``public/index.html``
(``#koboldcpp_order`` indices).  Pure data; no imports beyond typing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

PresetKind = Literal["textgen", "kobold"]

#: Neutral check for a key Parlor cannot honour: (value, whole preset) -> is neutral.
NeutralCheck = Callable[[Any, Mapping[str, Any]], bool]


def _equals(*values: Any) -> NeutralCheck:
    def check(value: Any, _src: Mapping[str, Any]) -> bool:
        return any(
            (value == v and type(value) is type(v)) or _same_number(value, v) for v in values
        )

    return check


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def _always(_value: Any, _src: Mapping[str, Any]) -> bool:
    return True


def _beam_only(default: Any) -> NeutralCheck:
    """Neutral at ``default`` or whenever beam search is off (num_beams 1)."""
    base = _equals(default)

    def check(value: Any, src: Mapping[str, Any]) -> bool:
        return base(value, src) or src.get("num_beams", 1) == 1

    return check


def _do_sample(value: Any, src: Mapping[str, Any]) -> bool:
    # do_sample=false means greedy in Transformers; with temp 0 Parlor is greedy too.
    return value is True or _same_number(src.get("temp"), 0)


def _rep_pen_slope(value: Any, src: Mapping[str, Any]) -> bool:
    return _equals(0, 1)(value, src) or _same_number(src.get("rep_pen", 1), 1)


def _negative(value: Any, _src: Mapping[str, Any]) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value < 0


#: Connection and UI state SillyTavern keeps in ``textgenerationwebui_settings``.
_CONNECTION_KEYS: Final = (
    "type",
    "server_urls",
    "custom_model",
    "bypass_status_check",
    "legacy_api",
    "openrouter_allow_fallbacks",
    "openrouter_providers",
    "openrouter_quantizations",
    "openrouter_model",
    "mancer_model",
    "togetherai_model",
    "infermaticai_model",
    "ollama_model",
    "vllm_model",
    "aphrodite_model",
    "dreamgen_model",
    "tabby_model",
    "featherless_model",
    "generic_model",
    "llamacpp_model",
    "huggingface_model",
)


@dataclass(frozen=True)
class Unhonoured:
    """A SillyTavern key Parlor cannot honour: when its value is neutral, and why."""

    is_neutral: NeutralCheck
    reason: str


_U = Unhonoured

#: Keys Parlor keeps verbatim but cannot honour, with their neutral test and the reason.
UNHONOURED: Final[Mapping[str, Unhonoured]] = MappingProxyType(
    {
        "top_a": _U(_equals(0), "Top-A is not a llama.cpp sampler"),
        "tfs": _U(_equals(1), "tail-free sampling was removed from llama.cpp"),
        "epsilon_cutoff": _U(_equals(0), "epsilon cutoff is not a llama.cpp sampler"),
        "eta_cutoff": _U(_equals(0), "eta cutoff is not a llama.cpp sampler"),
        "rep_pen_decay": _U(_equals(0), "repetition penalty decay is TabbyAPI-only"),
        "rep_pen_slope": _U(_rep_pen_slope, "repetition penalty slope is not in llama.cpp"),
        "rep_pen_size": _U(_equals(0), "legacy key with no effect"),
        "no_repeat_ngram_size": _U(_equals(0), "no-repeat n-gram is Transformers-only"),
        "penalty_alpha": _U(_equals(0), "contrastive search is not supported"),
        "num_beams": _U(_equals(1), "beam search is not supported"),
        "length_penalty": _U(_beam_only(1), "length penalty needs beam search"),
        "early_stopping": _U(_beam_only(False), "early stopping needs beam search"),
        "do_sample": _U(_do_sample, "do_sample=false (greedy) is Transformers-only"),
        "min_length": _U(_equals(0), "minimum reply length has no SamplerSettings field"),
        "encoder_rep_pen": _U(_equals(1), "encoder repetition penalty is Transformers-only"),
        "skew": _U(_equals(0), "skew is not a llama.cpp sampler"),
        "smoothing_factor": _U(_equals(0), "quadratic (smoothing) sampling is not supported"),
        "smoothing_curve": _U(_equals(1), "quadratic (smoothing) sampling is not supported"),
        "guidance_scale": _U(_equals(1), "CFG guidance is not supported"),
        "negative_prompt": _U(_equals(""), "CFG negative prompt is not supported"),
        "grammar_string": _U(_equals(""), "GBNF grammar has no SamplerSettings field"),
        "grammar": _U(_equals(""), "GBNF grammar has no SamplerSettings field"),
        "json_schema": _U(_equals(None, {}), "JSON schema has no SamplerSettings field"),
        "json_schema_allow_empty": _U(_equals(False), "JSON schema is not supported"),
        "min_keep": _U(_equals(0), "min_keep has no SamplerSettings field"),
        "max_tokens_second": _U(_equals(0), "token rate limiting is not supported"),
        "adaptive_target": _U(_negative, "adaptive-p is not supported"),
        "adaptive_decay": _U(_always, "adaptive-p is not supported"),
        "ignore_eos_token": _U(_equals(False), "ignore_eos is vLLM-only; use ban_eos_token"),
        "add_bos_token": _U(_equals(True), "the prompt template decides the BOS token"),
        "skip_special_tokens": _U(_equals(True), "special tokens are always skipped"),
        "spaces_between_special_tokens": _U(_equals(True), "vLLM/Aphrodite-only"),
        "speculative_ngram": _U(_equals(False), "TabbyAPI-only"),
        "include_reasoning": _U(_equals(True), "reasoning display is a chat setting"),
        "global_banned_tokens": _U(_equals(""), "global bans are not part of a preset"),
        "max_length": _U(_equals(None), "context size is a model setting"),
        # Sampler orders are read in ``st_orders``; these entries only cover a KoboldAI
        # preset that carries a text-completion order.  Connection/UI state: kept, never
        # reported.
        "sampler_priority": _U(_always, "text-generation-webui's sampler order"),
        "samplers_priorities": _U(_always, "Aphrodite's sampler order"),
        "samplers": _U(_always, "llama.cpp's sampler order"),
        "extensions": _U(_always, "SillyTavern extension data"),
        "preset": _U(_always, "SillyTavern UI state"),
        "streaming": _U(_always, "SillyTavern UI state"),
        "streaming_kobold": _U(_always, "SillyTavern UI state"),
        "n": _U(_always, "swipe count is a chat setting"),
        **{key: _U(_always, "SillyTavern connection setting") for key in _CONNECTION_KEYS},
    }
)

#: SillyTavern 1.18 ``textgen/Neutral.json``: export key order and neutral values.
TEXTGEN_TEMPLATE: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "temp": 1,
        "temperature_last": True,
        "top_p": 1,
        "top_k": 0,
        "top_a": 0,
        "tfs": 1,
        "epsilon_cutoff": 0,
        "eta_cutoff": 0,
        "typical_p": 1,
        "min_p": 0,
        "rep_pen": 1,
        "rep_pen_range": 0,
        "rep_pen_decay": 0,
        "rep_pen_slope": 1,
        "no_repeat_ngram_size": 0,
        "penalty_alpha": 0,
        "num_beams": 1,
        "length_penalty": 1,
        "min_length": 0,
        "encoder_rep_pen": 1,
        "freq_pen": 0,
        "presence_pen": 0,
        "skew": 0,
        "do_sample": True,
        "early_stopping": False,
        "dynatemp": False,
        "min_temp": 0,
        "max_temp": 2,
        "dynatemp_exponent": 1,
        "smoothing_factor": 0,
        "smoothing_curve": 1,
        "dry_allowed_length": 2,
        "dry_multiplier": 0,
        "dry_base": 1.75,
        "dry_sequence_breakers": '["\\n", ":", "\\"", "*"]',
        "dry_penalty_last_n": 0,
        "add_bos_token": True,
        "ban_eos_token": False,
        "skip_special_tokens": True,
        "mirostat_mode": 0,
        "mirostat_tau": 5,
        "mirostat_eta": 0.1,
        "guidance_scale": 1,
        "negative_prompt": "",
        "grammar_string": "",
        "json_schema": None,
        "json_schema_allow_empty": False,
        "banned_tokens": "",
        "sampler_priority": [
            "repetition_penalty",
            "presence_penalty",
            "frequency_penalty",
            "dry",
            "temperature",
            "dynamic_temperature",
            "quadratic_sampling",
            "top_n_sigma",
            "top_k",
            "top_p",
            "typical_p",
            "epsilon_cutoff",
            "eta_cutoff",
            "tfs",
            "top_a",
            "min_p",
            "mirostat",
            "xtc",
            "encoder_repetition_penalty",
            "no_repeat_ngram",
        ],
        "samplers": [
            "penalties",
            "dry",
            "top_n_sigma",
            "top_k",
            "typ_p",
            "tfs_z",
            "typical_p",
            "xtc",
            "top_p",
            "min_p",
            "temperature",
        ],
        "samplers_priorities": [
            "dry",
            "penalties",
            "no_repeat_ngram",
            "temperature",
            "top_nsigma",
            "top_p_top_k",
            "top_a",
            "min_p",
            "tfs",
            "eta_cutoff",
            "epsilon_cutoff",
            "typical_p",
            "quadratic",
            "xtc",
        ],
        "ignore_eos_token": False,
        "spaces_between_special_tokens": True,
        "speculative_ngram": False,
        "sampler_order": [6, 0, 1, 3, 4, 2, 5],
        "logit_bias": [],
        "xtc_threshold": 0.1,
        "xtc_probability": 0,
        "nsigma": 0,
        "min_keep": 0,
        "rep_pen_size": 0,
    }
)

#: SillyTavern 1.18 ``kobold/Neutral.json``.
KOBOLD_TEMPLATE: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "temp": 1,
        "rep_pen": 1,
        "rep_pen_range": 0,
        "top_p": 1,
        "min_p": 0,
        "top_a": 0,
        "top_k": 0,
        "typical": 1,
        "tfs": 1,
        "rep_pen_slope": 0,
        "sampler_order": [6, 0, 1, 3, 4, 2, 5],
        "mirostat": 0,
        "mirostat_tau": 5,
        "mirostat_eta": 0.1,
        "use_default_badwordsids": False,
        "grammar": "",
    }
)

TEMPLATES: Final[Mapping[PresetKind, Mapping[str, Any]]] = MappingProxyType(
    {"textgen": TEXTGEN_TEMPLATE, "kobold": KOBOLD_TEMPLATE}
)

#: Keys that only appear in KoboldAI-format presets (used to tell the two formats apart).
KOBOLD_ONLY_KEYS: Final[frozenset[str]] = frozenset(
    {"typical", "mirostat", "use_default_badwordsids", "grammar"}
)
