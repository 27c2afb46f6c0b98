"""Codecs between SillyTavern preset keys and :class:`Preset` fields.

Each :class:`Codec` reads a few SillyTavern keys into Preset fields (``decode``) and
writes them back (``encode``).  Mapping notes (Parlor runs llama.cpp, so llama.cpp's
meaning wins where SillyTavern's backends disagree):

* ``rep_pen_range`` and ``dry_penalty_last_n`` mean what the preset's API type reads
  them as (:func:`~app.engine.sampler_names.penalty_window`, ``dry_window``): a KoboldAI
  preset KoboldCpp's (below 1 is the last token only), a ``settings.json`` section its
  ``type``'s (text-generation-webui: 0 is the whole context), a plain text-completion
  preset llama.cpp's (SillyTavern sends them to llama.cpp as ``repeat_last_n`` /
  ``dry_penalty_last_n``: 0 switches the penalty off, -1 is the whole context); the
  import report notes a set penalty that 0 switches off.
* ``top_k`` below 0 is SillyTavern's "off" for some backends: 0.  ``nsigma`` 0 means off
  (Parlor: -1).
* ``dynatemp`` with ``min_temp``/``max_temp`` becomes temperature = their mean and
  dynatemp_range = half their distance (what SillyTavern sends as ``dynatemp_range``).
* The sampler order comes from the first order key the preset has (``samplers``, then
  ``sampler_priority``, ``samplers_priorities``, ``sampler_order``; see
  :mod:`app.presets.st_orders`); samplers Parlor lacks are left out, missing stages are
  completed.  KoboldAI ``sampler_order`` fixes the temperature position, so
  ``temperature_last`` becomes false.
* ``banned_tokens`` lines: ``[ids]`` → banned token ids; ``"text"`` → banned string;
  plain text → banned string too (SillyTavern bans its tokens; noted in the report).
* ``logit_bias`` entries whose text is ``[ids]`` are honoured; text entries need the
  model's tokenizer and are reported as lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.engine.sampler_names import (
    KOBOLD_DEFAULT_ORDER,
    KOBOLD_INDEX_STAGES,
    SERVERS,
    STAGE_TO_LLAMACPP,
    Server,
    dry_window,
    penalty_window,
)
from app.engine.sampling import merge_order
from app.errors import PresetError
from app.presets.model import Preset
from app.presets.st_orders import TEXTGEN_ORDER_KEYS, decode_order
from app.presets.st_tables import PresetKind

Fields = dict[str, Any]


@dataclass(frozen=True)
class LostSetting:
    """A SillyTavern value Parlor cannot honour (not neutral, so behaviour changes)."""

    key: str
    value: Any
    reason: str


@dataclass
class Reader:
    """Typed access to a SillyTavern mapping; collects notes and lost settings."""

    source: str
    notes: list[str] = field(default_factory=list)
    lost: list[LostSetting] = field(default_factory=list)

    def fail(self, key: str, problem: str) -> PresetError:
        """The error for a bad value of ``key``."""
        return PresetError(self.source, f"{key}: {problem}")

    def number(self, src: Mapping[str, Any], key: str) -> float:
        """A finite number (int or float, never bool)."""
        value = src[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(key, f"expected a finite number, got {value!r}")
        return float(value)

    def integer(self, src: Mapping[str, Any], key: str) -> int:
        """A whole number (an integral float such as 40.0 is accepted)."""
        value = self.number(src, key)
        if not value.is_integer():
            raise self.fail(key, f"expected a whole number, got {src[key]!r}")
        return int(value)

    def boolean(self, src: Mapping[str, Any], key: str) -> bool:
        """A JSON boolean."""
        value = src[key]
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def string(self, src: Mapping[str, Any], key: str) -> str:
        """A JSON string."""
        value = src[key]
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        return value

    def strings(self, src: Mapping[str, Any], key: str) -> list[str]:
        """A JSON list of strings."""
        value = src[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of strings, got {value!r}")
        return list(value)

    def integers(self, src: Mapping[str, Any], key: str) -> list[int]:
        """A JSON list of whole numbers."""
        value = src[key]
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise self.fail(key, f"expected a list of whole numbers, got {value!r}")
        return list(value)


Decode = Callable[[Mapping[str, Any], Reader], Fields]
Encode = Callable[[Preset], dict[str, Any]]


@dataclass(frozen=True)
class Codec:
    """How some SillyTavern keys map onto some Preset fields."""

    keys: tuple[str, ...]
    fields: tuple[str, ...]
    decode: Decode
    encode: Encode


def _same(value: Any) -> Any:
    return value


def _negative_is_off(value: int) -> int:
    return max(value, 0)


def _scalar(
    key: str,
    name: str,
    kind: str = "number",
    to_field: Callable[[Any], Any] = _same,
    to_st: Callable[[Any], Any] = _same,
) -> Codec:
    def decode(src: Mapping[str, Any], reader: Reader) -> Fields:
        if key not in src:
            return {}
        read = {"number": reader.number, "integer": reader.integer, "boolean": reader.boolean}
        return {name: to_field(read[kind](src, key))}

    def encode(preset: Preset) -> dict[str, Any]:
        return {key: to_st(getattr(preset, name))}

    return Codec((key,), (name,), decode, encode)


# -- temperature / dynamic temperature ---------------------------------------------------


def _decode_temp(src: Mapping[str, Any], reader: Reader) -> Fields:
    out: Fields = {}
    if "dynatemp_exponent" in src:
        out["dynatemp_exponent"] = reader.number(src, "dynatemp_exponent")
    if "dynatemp" in src and reader.boolean(src, "dynatemp"):
        low = reader.number(src, "min_temp") if "min_temp" in src else 0.0
        high = reader.number(src, "max_temp") if "max_temp" in src else 2.0
        if high < low:
            raise reader.fail("max_temp", f"{high:g} is below min_temp {low:g}")
        out["temperature"] = round((low + high) / 2, 6)
        out["dynatemp_range"] = round((high - low) / 2, 6)
    elif "temp" in src:
        out["temperature"] = reader.number(src, "temp")
        out["dynatemp_range"] = 0.0
    return out


def _encode_temp(preset: Preset) -> dict[str, Any]:
    t, r = preset.temperature, preset.dynatemp_range
    return {
        "temp": t,
        "dynatemp": r > 0,
        "min_temp": round(t - r, 6) if r > 0 else 0,
        "max_temp": round(t + r, 6) if r > 0 else 2,
        "dynatemp_exponent": preset.dynatemp_exponent,
    }


DYNATEMP = Codec(
    ("temp", "dynatemp", "min_temp", "max_temp", "dynatemp_exponent"),
    ("temperature", "dynatemp_range", "dynatemp_exponent"),
    _decode_temp,
    _encode_temp,
)

# -- sampler order -----------------------------------------------------------------------


def _decode_samplers(src: Mapping[str, Any], reader: Reader) -> Fields:
    return decode_order(src, reader, "textgen")


def _encode_samplers(preset: Preset) -> dict[str, Any]:
    return {"samplers": [STAGE_TO_LLAMACPP[s] for s in preset.order]}


SAMPLERS = Codec(TEXTGEN_ORDER_KEYS, ("order",), _decode_samplers, _encode_samplers)


def _decode_kobold_order(src: Mapping[str, Any], reader: Reader) -> Fields:
    return decode_order(src, reader, "kobold")


def _encode_kobold_order(preset: Preset) -> dict[str, Any]:
    order = list(preset.order)
    if preset.temperature_last:
        order.remove("temperature")
        order.append("temperature")
    indices: list[int] = []
    for stage in order:
        index = next((i for i, st in KOBOLD_INDEX_STAGES.items() if stage in st), None)
        if index is not None and index not in indices:
            indices.append(index)
    return {"sampler_order": list(merge_order(indices, KOBOLD_DEFAULT_ORDER))}


KOBOLD_ORDER = Codec(
    ("sampler_order",), ("order", "temperature_last"), _decode_kobold_order, _encode_kobold_order
)

# -- DRY sequence breakers -----------------------------------------------------------------


def _decode_breakers(src: Mapping[str, Any], reader: Reader) -> Fields:
    key = "dry_sequence_breakers"
    if key not in src:
        return {}
    raw = src[key]
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = raw.split(",")  # SillyTavern's own fallback
    else:
        parsed = raw
    if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
        raise reader.fail(key, f"expected a JSON list of strings, got {raw!r}")
    if "" in parsed:
        reader.notes.append(f"{key}: empty breakers left out")
    return {"dry_sequence_breakers": tuple(s for s in parsed if s)}


def _encode_breakers(preset: Preset) -> dict[str, Any]:
    return {"dry_sequence_breakers": json.dumps(list(preset.dry_sequence_breakers))}


BREAKERS = Codec(
    ("dry_sequence_breakers",), ("dry_sequence_breakers",), _decode_breakers, _encode_breakers
)

# -- banned tokens / strings -----------------------------------------------------------------


def _banned_line(line: str, number: int, reader: Reader) -> tuple[list[int], list[str]]:
    if line.startswith("[") and line.endswith("]"):
        try:
            ids = json.loads(line)
        except json.JSONDecodeError:
            ids = None
        if not isinstance(ids, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids
        ):
            raise reader.fail("banned_tokens", f"line {number} is not a list of token ids")
        return ids, []
    if len(line) >= 2 and line.startswith('"') and line.endswith('"'):
        return [], [line[1:-1]] if line[1:-1] else []
    reader.notes.append(
        f"banned_tokens: line {number} {line!r} is banned as a string, not token by token"
    )
    return [], [line]


def _decode_banned(src: Mapping[str, Any], reader: Reader) -> Fields:
    if "banned_tokens" not in src:
        return {}
    text = reader.string(src, "banned_tokens")
    if "send_banned_tokens" in src and not reader.boolean(src, "send_banned_tokens"):
        if text.strip():
            reader.notes.append("banned_tokens: not used, send_banned_tokens is false")
        return {"banned_tokens": (), "banned_strings": ()}
    tokens: list[int] = []
    strings: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        ids, texts = _banned_line(line, number, reader)
        tokens.extend(t for t in ids if t not in tokens)
        strings.extend(s for s in texts if s not in strings)
    return {"banned_tokens": tuple(tokens), "banned_strings": tuple(strings)}


def _encode_banned(preset: Preset) -> dict[str, Any]:
    lines = [json.dumps(list(preset.banned_tokens))] if preset.banned_tokens else []
    lines.extend(f'"{s}"' for s in preset.banned_strings)
    return {"banned_tokens": "\n".join(lines)}


BANNED = Codec(
    ("banned_tokens", "send_banned_tokens"),
    ("banned_tokens", "banned_strings"),
    _decode_banned,
    _encode_banned,
)

# -- logit bias ------------------------------------------------------------------------------


def _bias_ids(text: str) -> list[int] | None:
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        ids = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(ids, list) and all(
        isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids
    ):
        return ids
    return None


def _decode_bias(src: Mapping[str, Any], reader: Reader) -> Fields:
    if "logit_bias" not in src:
        return {}
    entries = src["logit_bias"]
    if not isinstance(entries, list):
        raise reader.fail(
            "logit_bias", f"expected a list of {{text, value}} entries, got {entries!r}"
        )
    bias: dict[int, float] = {}
    by_text: list[Any] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("text", ""), str):
            raise reader.fail(f"logit_bias.{index}", "expected an entry with a text string")
        text = str(entry.get("text", "")).strip()
        if not text:
            continue
        if "value" not in entry:
            raise reader.fail(f"logit_bias.{index}", "missing value")
        value = reader.number(entry, "value")
        ids = _bias_ids(text)
        if ids is None:
            by_text.append(entry)
            continue
        for token in ids:
            bias[token] = value
    if by_text:
        reader.lost.append(
            LostSetting("logit_bias", by_text, "bias by text needs the model's tokenizer")
        )
    return {"logit_bias": bias}


def _encode_bias(preset: Preset) -> dict[str, Any]:
    return {
        "logit_bias": [
            {"id": f"parlor-{token}", "text": f"[{token}]", "value": value}
            for token, value in sorted(preset.logit_bias.items())
        ]
    }


LOGIT_BIAS = Codec(("logit_bias",), ("logit_bias",), _decode_bias, _encode_bias)

# -- reply length, stop strings --------------------------------------------------------------


def _decode_genamt(src: Mapping[str, Any], reader: Reader) -> Fields:
    return {"max_new_tokens": reader.integer(src, "genamt")} if "genamt" in src else {}


def _encode_genamt(preset: Preset) -> dict[str, Any]:
    return {} if preset.max_new_tokens is None else {"genamt": preset.max_new_tokens}


def _decode_stops(src: Mapping[str, Any], reader: Reader) -> Fields:
    if "stopping_strings" not in src:
        return {}
    return {"stop": tuple(s for s in reader.strings(src, "stopping_strings") if s)}


def _encode_stops(preset: Preset) -> dict[str, Any]:
    return {"stopping_strings": list(preset.stop)} if preset.stop else {}


def _decode_seed(src: Mapping[str, Any], reader: Reader) -> Fields:
    return {"seed": reader.integer(src, "seed")} if "seed" in src else {}


def _encode_seed(preset: Preset) -> dict[str, Any]:
    return {} if preset.seed == -1 else {"seed": preset.seed}


GENAMT = Codec(("genamt",), ("max_new_tokens",), _decode_genamt, _encode_genamt)
STOPS = Codec(("stopping_strings",), ("stop",), _decode_stops, _encode_stops)
SEED = Codec(("seed",), ("seed",), _decode_seed, _encode_seed)


def _sigma_in(value: float) -> float:
    return value if value > 0 else -1.0


def _sigma_out(value: float) -> float:
    return value if value > 0 else 0


def _window(key: str, name: str, server: Server, meaning: Callable[[Server, int], int]) -> Codec:
    """A look-back window read as the preset's API type reads it (a ``settings.json``
    section names its type; otherwise ``server``)."""

    def decode(src: Mapping[str, Any], reader: Reader) -> Fields:
        if key not in src:
            return {}
        api_type = src.get("type")
        reads_as = api_type if api_type in SERVERS else server
        return {name: meaning(reads_as, reader.integer(src, key))}

    def encode(preset: Preset) -> dict[str, Any]:
        return {key: getattr(preset, name)}

    return Codec((key,), (name,), decode, encode)


def _shared(typical: str, mirostat: str, ban_eos: str, server: Server) -> list[Codec]:
    return [
        _scalar("top_p", "top_p"),
        _scalar("top_k", "top_k", "integer", _negative_is_off),
        _scalar(typical, "typical_p"),
        _scalar("min_p", "min_p"),
        _scalar("rep_pen", "repeat_penalty"),
        _window("rep_pen_range", "repeat_last_n", server, penalty_window),
        _scalar(mirostat, "mirostat_mode", "integer"),
        _scalar("mirostat_tau", "mirostat_tau"),
        _scalar("mirostat_eta", "mirostat_eta"),
        _scalar(ban_eos, "ban_eos", "boolean"),
        GENAMT,
        SEED,
        STOPS,
    ]


def textgen_codecs() -> list[Codec]:
    """Codecs for SillyTavern text-completion (``textgen``) presets."""
    return [
        DYNATEMP,
        _scalar("temperature_last", "temperature_last", "boolean"),
        *_shared("typical_p", "mirostat_mode", "ban_eos_token", "llamacpp"),
        _scalar("freq_pen", "frequency_penalty"),
        _scalar("presence_pen", "presence_penalty"),
        _scalar("dry_multiplier", "dry_multiplier"),
        _scalar("dry_base", "dry_base"),
        _scalar("dry_allowed_length", "dry_allowed_length", "integer"),
        _window("dry_penalty_last_n", "dry_penalty_last_n", "llamacpp", dry_window),
        BREAKERS,
        _scalar("xtc_threshold", "xtc_threshold"),
        _scalar("xtc_probability", "xtc_probability"),
        _scalar("nsigma", "top_n_sigma", "number", _sigma_in, _sigma_out),
        SAMPLERS,
        BANNED,
        LOGIT_BIAS,
    ]


def kobold_codecs() -> list[Codec]:
    """Codecs for KoboldAI-format presets (SillyTavern ``kobold`` folder)."""
    return [
        _scalar("temp", "temperature"),
        *_shared("typical", "mirostat", "use_default_badwordsids", "koboldcpp"),
        KOBOLD_ORDER,
    ]


def codecs_for(kind: PresetKind) -> list[Codec]:
    """The codecs of one preset format."""
    return textgen_codecs() if kind == "textgen" else kobold_codecs()


def decode_all(codecs: Sequence[Codec], src: Mapping[str, Any], reader: Reader) -> Fields:
    """Run every codec over ``src``; later codecs never overwrite earlier fields."""
    fields: Fields = {}
    for codec in codecs:
        for key, value in codec.decode(src, reader).items():
            fields.setdefault(key, value)
    return fields


def means_current(codec: Codec, raws: Mapping[str, Any], preset: Preset) -> bool:
    """Whether ``raws`` (verbatim values of ``codec`` keys) still mean ``preset``'s values."""
    candidate = {**codec.encode(preset), **raws}
    try:
        decoded = codec.decode(candidate, Reader("export"))
    except PresetError:
        return False
    neutral = Preset.neutral()
    return all(
        decoded.get(name, getattr(neutral, name)) == getattr(preset, name) for name in codec.fields
    )
