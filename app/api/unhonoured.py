"""Fields clients send that Parlor does not honour: which matter, and why.

A field at its neutral value changes nothing and is accepted silently; one that would
change the reply is logged once per process (:class:`~app.api.notes.FieldNotes`).
Fields that only describe the connection, and every alias of a setting Parlor does read
(:mod:`app.api.fields`), are accepted silently too.  docs/api.md lists the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from app.api.notes import FieldNotes


def _equals(neutral: object) -> Callable[[Any], bool]:
    return lambda value: value == neutral or value is None


def _empty(value: Any) -> bool:
    return not value


#: Field → (is it neutral at this value?, why it is not honoured).
UNHONOURED: Final[Mapping[str, tuple[Callable[[Any], bool], str]]] = {
    "top_a": (_equals(0), "no top-a sampler in llama.cpp"),
    "tfs": (_equals(1), "tail-free sampling was removed from llama.cpp"),
    "tfs_z": (_equals(1), "tail-free sampling was removed from llama.cpp"),
    "epsilon_cutoff": (_equals(0), "no epsilon sampler in llama.cpp"),
    "eta_cutoff": (_equals(0), "no eta sampler in llama.cpp"),
    "smoothing_factor": (_equals(0), "no quadratic sampling in llama.cpp"),
    "smoothing_curve": (_equals(1), "no quadratic sampling in llama.cpp"),
    "skew": (_equals(0), "no skew sampler in llama.cpp"),
    "rep_pen_slope": (
        lambda v: v is None or v == 1 or (isinstance(v, int | float) and not 0 < v < 1),
        "no repetition-penalty slope in llama.cpp",
    ),
    "repetition_decay": (_equals(0), "no repetition-penalty decay in llama.cpp"),
    "encoder_repetition_penalty": (_equals(1), "no encoder repetition penalty"),
    "no_repeat_ngram_size": (_equals(0), "no n-gram ban in llama.cpp"),
    "penalty_alpha": (_equals(0), "no contrastive search"),
    "num_beams": (_equals(1), "no beam search"),
    "use_beam_search": (_equals(False), "no beam search"),
    "length_penalty": (_equals(1), "no beam search"),
    "guidance_scale": (_equals(1), "no classifier-free guidance"),
    "cfg_scale": (_equals(1), "no classifier-free guidance"),
    "negative_prompt": (_empty, "no classifier-free guidance"),
    "min_tokens": (_equals(0), "no minimum reply length"),
    "min_length": (_equals(0), "no minimum reply length"),
    "max_tokens_second": (_equals(0), "no speed limit"),
    "do_sample": (_equals(True), "send temperature 0 for greedy decoding"),
    "add_bos_token": (_equals(True), "BOS follows the model's own setting"),
    "skip_special_tokens": (_equals(True), "special tokens are never shown in replies"),
    "speculative_ngram": (_equals(False), "no speculative decoding"),
    "dynatemp_mode": (_equals(0), "dynamic temperature comes from dynatemp_range"),
    "guided_regex": (_empty, "only grammars and JSON schemas constrain replies"),
    "guided_choice": (_empty, "only grammars and JSON schemas constrain replies"),
    "stop_token_ids": (_empty, "use stop strings"),
    "include_stop_str_in_output": (_equals(False), "stop strings are never in the reply"),
    "allowed_tokens": (_empty, "no token allow-list"),
    "min_keep": (_equals(0), "samplers keep at least one token"),
    "n_indent": (_equals(0), "no indentation rule"),
    "t_max_predict_ms": (_equals(0), "no time limit on a reply"),
    "n_keep": (lambda v: v in (None, 0, -1), "context shift keeps what the chat layer sends"),
    "n_discard": (_equals(0), "context shift is Parlor's own"),
    "cache_prompt": (_equals(True), "the prompt is always cached"),
    "post_sampling_probs": (_equals(False), "probabilities are the raw softmax"),
    "lora": (_empty, "no LoRA adapters"),
    "grammar_retain_state": (_equals(False), "a grammar starts afresh each reply"),
    "render_special": (_equals(False), "special tokens are never shown in replies"),
    "bypass_eos": (_equals(False), "use ban_eos_token"),
    "echo": (_equals(False), "the prompt is never echoed"),
    "suffix": (_empty, "no fill-in-the-middle"),
    "token_healing": (_equals(False), "no token healing"),
}

#: Fields accepted silently: connection state, client-side settings, and the names
#: :mod:`app.api.fields` and the dialects read.
SILENT: Final[frozenset[str]] = frozenset(
    {
        # connection and client state
        "api_type", "api_server", "legacy_api", "model", "user", "stream", "stream_options",
        "prompt", "messages", "gui_settings", "use_story", "use_memory", "use_authors_note",
        "use_world_info", "quiet", "genkey", "images", "memory", "trim_stop", "can_abort",
        "streaming", "provider", "allow_fallbacks", "id_slot", "timings_per_token",
        "return_tokens", "return_progress", "response_fields", "spaces_between_special_tokens",
        "num_ctx", "num_predict", "best_of", "n", "n_cmpl", "n_probs", "character", "preset",
        "logprobs", "top_logprobs", "tools", "tool_choice", "response_format",
        "max_completion_tokens", "logit_bias",
        "json_schema", "guided_json", "guided_grammar", "guided_decoding_backend",
        "guided_whitespace_pattern", "truncate_prompt_tokens", "early_stopping",
        "dynamic_temperature", "dynatemp_low", "dynatemp_high", "dynatemp_min", "dynatemp_max",
        "min_temp", "max_temp", "sse_ping_interval", "add_special", "parse_special",
        "with_pieces", "content", "text", "tokens",
        # aliases the readers in app.api.fields understand
        "temperature", "temperature_last", "dynatemp_range", "dynatemp_exponent",
        "temp_exponent", "top_k", "top_p", "min_p", "typical_p", "typical", "top_n_sigma",
        "nsigma", "frequency_penalty", "presence_penalty", "dry_multiplier", "dry_base",
        "dry_allowed_length", "dry_sequence_breakers", "dry_penalty_last_n", "dry_range",
        "xtc_probability", "xtc_threshold", "mirostat_mode", "mirostat", "mirostat_tau",
        "mirostat_eta", "seed", "sampler_seed", "ban_eos_token", "ignore_eos",
        "use_default_badwordsids", "repetition_penalty", "repeat_penalty", "rep_pen",
        "repeat_last_n", "rep_pen_range", "repetition_penalty_range", "penalty_range",
        "repetition_range", "samplers", "sampler_priority", "sampler_order", "banned_strings",
        "banned_tokens", "custom_token_bans", "max_tokens", "max_new_tokens", "n_predict",
        "max_length", "stop", "stopping_strings", "stop_sequence", "singleline", "grammar",
        "grammar_string", "truncation_length", "max_context_length",
    }
)  # fmt: skip


def note_unhonoured(body: Mapping[str, Any], notes: FieldNotes) -> None:
    """Log (once per name) each field of ``body`` that would change the reply but that
    Parlor does not honour, and each field it does not know at all."""
    for name, value in body.items():
        rule = UNHONOURED.get(name)
        if rule is not None:
            neutral, reason = rule
            if not neutral(value):
                notes.note(name, reason)
        elif name not in SILENT:
            notes.note(name, "unknown field, ignored")
