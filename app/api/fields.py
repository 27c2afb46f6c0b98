"""Every dialect's sampler fields, read with the meaning their own server gives them.

A request body (the typed fields its model validated, plus whatever else it carried)
becomes the chat layer's :class:`~app.chat.requests.Sampling` here, in one place for
all dialects.  Where servers name one setting differently (``repeat_penalty``,
``repetition_penalty``, ``rep_pen``) the first name present wins, in the order of the
server the client thinks it is talking to; where they read a value differently
(a look-back window of 0) the server's meaning applies (:mod:`app.engine.sampler_names`).
On ``/v1`` that server is the ``api_type`` SillyTavern sends along; without one, each
field name keeps its own server's meaning.  What Parlor cannot honour is logged once
(:mod:`app.api.unhonoured`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.api import values
from app.api.grammar import body_grammar
from app.api.notes import FieldNotes
from app.api.unhonoured import note_unhonoured
from app.chat.requests import Sampling
from app.engine.sampler_names import (
    OOBA_STAGES,
    SERVERS,
    Server,
    dry_window,
    kobold_order,
    llamacpp_order,
    named_order,
    penalty_window,
)

Reader = Callable[[Any, str], object]


def _top_k(value: Any, name: str) -> int:
    return max(values.integer(value, name), 0)  # 0 and -1 both mean off


def _sigma(value: Any, name: str) -> float:
    sigma = values.number(value, name)
    return sigma if sigma > 0 else -1.0


def _mirostat(value: Any, name: str) -> int:
    return 2 if value is True else 0 if value is False else values.integer(value, name)


#: Parlor setting → (accepted names, first present wins; reader).
SIMPLE: Mapping[str, tuple[tuple[str, ...], Reader]] = {
    "temperature": (("temperature",), values.number),
    "temperature_last": (("temperature_last",), values.boolean),
    "dynatemp_range": (("dynatemp_range",), values.number),
    "dynatemp_exponent": (("dynatemp_exponent", "temp_exponent"), values.number),
    "top_k": (("top_k",), _top_k),
    "top_p": (("top_p",), values.number),
    "min_p": (("min_p",), values.number),
    "typical_p": (("typical_p", "typical"), values.number),
    "top_n_sigma": (("top_n_sigma", "nsigma"), _sigma),
    "frequency_penalty": (("frequency_penalty",), values.number),
    "presence_penalty": (("presence_penalty",), values.number),
    "dry_multiplier": (("dry_multiplier",), values.number),
    "dry_base": (("dry_base",), values.number),
    "dry_allowed_length": (("dry_allowed_length",), values.integer),
    "dry_sequence_breakers": (("dry_sequence_breakers",), values.breakers),
    "xtc_probability": (("xtc_probability",), values.number),
    "xtc_threshold": (("xtc_threshold",), values.number),
    "mirostat_mode": (("mirostat_mode", "mirostat"), _mirostat),
    "mirostat_tau": (("mirostat_tau",), values.number),
    "mirostat_eta": (("mirostat_eta",), values.number),
    "seed": (("seed", "sampler_seed"), values.integer),
    "ban_eos": (("ban_eos_token", "ignore_eos", "use_default_badwordsids"), values.boolean),
}

#: The repetition penalty's names, in each server's order (the default: OpenAI's/vLLM's).
PENALTY_NAMES: Mapping[Server | None, tuple[str, ...]] = {
    "llamacpp": ("repeat_penalty", "repetition_penalty", "rep_pen"),
    "koboldcpp": ("rep_pen", "repetition_penalty", "repeat_penalty"),
    None: ("repetition_penalty", "repeat_penalty", "rep_pen"),
}
#: Each server's name for the penalty window; without a server, each name is read as
#: its own server reads it (llama.cpp's first: it is Parlor's documented extension).
WINDOW_NAMES: Mapping[Server | None, tuple[tuple[str, Server], ...]] = {
    "llamacpp": (("repeat_last_n", "llamacpp"),),
    "koboldcpp": (("rep_pen_range", "koboldcpp"),),
    "ooba": (("repetition_penalty_range", "ooba"),),
    "tabby": (
        ("penalty_range", "tabby"),
        ("repetition_range", "tabby"),
        ("repetition_penalty_range", "tabby"),
        ("rep_pen_range", "tabby"),
    ),
    "vllm": (),
    None: (
        ("repeat_last_n", "llamacpp"),
        ("repetition_penalty_range", "ooba"),
        ("penalty_range", "tabby"),
        ("rep_pen_range", "koboldcpp"),
    ),
}
#: Sampler-order fields: name → how it becomes a stage order; the first present wins.
ORDER_NAMES = ("samplers", "sampler_priority", "sampler_order")
#: Reply-length names in each server's order.
LENGTH_NAMES: Mapping[Server | None, tuple[str, ...]] = {
    "llamacpp": ("n_predict", "max_tokens"),
    "koboldcpp": ("max_length", "max_tokens"),
    "ooba": ("max_new_tokens", "max_tokens"),
    None: ("max_tokens", "max_completion_tokens", "max_new_tokens", "n_predict", "max_length"),
}


@dataclass(frozen=True)
class Dialect:
    """Which server's meanings a request body is read with (None: each field's own)."""

    server: Server | None = None

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> Dialect:
        """``/v1``: the server SillyTavern's ``api_type`` names, if Parlor knows it."""
        api_type = body.get("api_type")
        return cls(api_type if api_type in SERVERS else None)

    def names(self, table: Mapping[Server | None, tuple[str, ...]]) -> tuple[str, ...]:
        """This server's row of ``table`` (the default row if it has none)."""
        return table.get(self.server, table[None])


def read_sampling(
    body: Mapping[str, Any], dialect: Dialect, notes: FieldNotes, **known: object
) -> Sampling:
    """The chat layer's :class:`Sampling` for ``body`` read as ``dialect``.

    ``known`` sets fields the dialect has already worked out (``grammar``,
    ``max_new_tokens``, ``n_probs``, ``preset``) over what ``body`` says.
    """
    note_unhonoured(body, notes)
    overrides = _overrides(body, dialect)
    biases, bias_bans = values.logit_bias(body.get("logit_bias") or [], "logit_bias")
    banned_ids, banned_strings = _bans(body, dialect)
    if bias_bans or banned_ids:
        overrides["banned_tokens"] = (*bias_bans, *banned_ids)
    if banned_strings:
        overrides["banned_strings"] = banned_strings
    fields: dict[str, Any] = {
        "overrides": overrides,
        "logit_bias": biases or None,
        "max_new_tokens": _length(body, dialect),
        "stop": _stops(body),
        "grammar": body_grammar(body),
        "context_limit": _context_limit(body),
    }
    fields.update(known)
    return Sampling(**fields)


def first(body: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first of ``names`` that ``body`` sets (not null), with its value."""
    for name in names:
        if body.get(name) is not None:
            return name, body[name]
    return None


def _overrides(body: Mapping[str, Any], dialect: Dialect) -> dict[str, object]:
    out: dict[str, object] = {}
    for setting, (names, read) in SIMPLE.items():
        found = first(body, names)
        if found is not None:
            out[setting] = read(found[1], found[0])
    found = first(body, dialect.names(PENALTY_NAMES))
    if found is not None:
        out["repeat_penalty"] = values.number(found[1], found[0])
    out.update(_windows(body, dialect))
    out.update(_order(body, dialect))
    return out


def _windows(body: Mapping[str, Any], dialect: Dialect) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, server in WINDOW_NAMES.get(dialect.server, WINDOW_NAMES[None]):
        if body.get(name) is not None:
            out["repeat_last_n"] = penalty_window(server, values.integer(body[name], name))
            break
    else:  # vLLM's repetition_penalty has no window: it sees the whole sequence
        if dialect.server in (None, "vllm") and body.get("repetition_penalty") is not None:
            out["repeat_last_n"] = penalty_window("vllm", 0)
    found = first(body, ("dry_penalty_last_n", "dry_range"))
    if found is not None:
        home: Server = "tabby" if found[0] == "dry_range" else "llamacpp"
        server = dialect.server or home
        out["dry_penalty_last_n"] = dry_window(server, values.integer(found[1], found[0]))
    return out


def _order(body: Mapping[str, Any], dialect: Dialect) -> dict[str, object]:
    preferred = {"llamacpp": "samplers", "koboldcpp": "sampler_order"}.get(dialect.server or "")
    names = (preferred, *ORDER_NAMES) if preferred else ORDER_NAMES
    found = first(body, tuple(n for n in names if n))
    if found is None:
        return {}
    name, value = found
    if name == "sampler_order":
        order, _ = kobold_order(values.token_ids(value, name))
        return {"order": order, "temperature_last": False}
    names_given = values.strings(value, name)
    if name == "samplers":
        return {"order": llamacpp_order(names_given)[0], "temperature_last": False}
    return {"order": named_order(names_given, OOBA_STAGES)}


def _bans(body: Mapping[str, Any], dialect: Dialect) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Banned token ids and banned strings (KoboldCpp's ``banned_tokens`` are strings)."""
    ids: list[int] = []
    texts: list[str] = list(values.strings(body.get("banned_strings") or [], "banned_strings"))
    if body.get("custom_token_bans"):
        ids.extend(values.token_ids(body["custom_token_bans"], "custom_token_bans"))
    bans = body.get("banned_tokens")
    if bans:
        textual = dialect.server == "koboldcpp" or (
            isinstance(bans, list) and all(isinstance(b, str) for b in bans)
        )
        if textual:
            texts.extend(values.strings(bans, "banned_tokens"))
        else:
            ids.extend(values.token_ids(bans, "banned_tokens"))
    return tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(texts))


def _length(body: Mapping[str, Any], dialect: Dialect) -> int | None:
    found = first(body, dialect.names(LENGTH_NAMES))
    if found is None:
        return None
    length = values.integer(found[1], found[0])
    return length if length > 0 else None  # n_predict -1: until the context is full


def _stops(body: Mapping[str, Any]) -> tuple[str, ...]:
    stops: list[str] = []
    for name in ("stop", "stopping_strings", "stop_sequence"):
        if body.get(name) is not None:
            stops.extend(values.strings(body[name], name))
    if body.get("singleline") is True:
        stops.append("\n")
    return tuple(dict.fromkeys(stops))


def _context_limit(body: Mapping[str, Any]) -> int | None:
    found = first(body, ("truncation_length", "max_context_length"))
    if found is None:
        return None
    limit = values.integer(found[1], found[0])
    return limit if limit > 0 else None
