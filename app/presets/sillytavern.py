"""Import and export SillyTavern sampler presets (text-completion and KoboldAI formats).

Accepted inputs: a bare text-completion preset (``TextGen Settings/*.json``), a KoboldAI
preset (``KoboldAI Settings/*.json``), a master export (``{"preset": {...}}``) and
SillyTavern's ``settings.json`` (its ``textgenerationwebui_settings`` or ``kai_settings``).

Nothing is dropped.  A setting Parlor does not honour (a non-neutral value of a key it
has no sampler for, an unknown key, logit biases by text) is kept in
:attr:`Preset.unsupported`, and the :class:`ImportReport` lists exactly those, one line
each; its notes say how honoured values were read (another backend's sampler order that
sorts the active samplers differently from the applied one, a penalty a look-back of 0
switches off).  Honoured keys whose SillyTavern
spelling our export would not reproduce (a ``samplers`` list naming ``tfs_z``, a
KoboldAI ``sampler_order`` with Top-A) are kept in :attr:`Preset.sillytavern`, and the
export writes them back while they still mean the current settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.engine.sampling import stage_is_active
from app.errors import PresetError
from app.presets.model import Preset, describe_validation_error
from app.presets.st_codecs import (
    Codec,
    LostSetting,
    Reader,
    codecs_for,
    decode_all,
    means_current,
)
from app.presets.st_orders import BACKENDS, applied_key, effective_order, order_keys, order_stages
from app.presets.st_tables import KOBOLD_ONLY_KEYS, TEMPLATES, UNHONOURED, PresetKind

__all__ = [
    "ImportReport",
    "LostSetting",
    "active_sampler_key",
    "export_master",
    "export_sillytavern",
    "import_sillytavern",
    "import_sillytavern_data",
]

_MISSING = object()
_MARKERS = ("temp", "top_k", "top_p", "rep_pen")
_KOBOLD_APIS = ("kobold", "koboldhorde")


@dataclass(frozen=True)
class ImportReport:
    """What an import honoured only in part or not at all."""

    source: str
    kind: PresetKind
    lost: tuple[LostSetting, ...]
    notes: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def unsupported(self) -> dict[str, Any]:
        """Key → value of every setting Parlor does not honour (= ``Preset.unsupported``)."""
        return {item.key: item.value for item in self.lost}

    def lines(self) -> list[str]:
        """One line per setting not honoured, then one per note on how one was read."""
        out = [f"{i.key} = {json.dumps(i.value)}: not used ({i.reason})" for i in self.lost]
        return out + [f"note: {note}" for note in self.notes]


def import_sillytavern(
    path: Path, *, name: str | None = None, kind: PresetKind | None = None
) -> tuple[Preset, ImportReport]:
    """Read a SillyTavern preset JSON file; a malformed file raises PresetError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(path.name, f"cannot read the file ({exc})") from None
    try:
        data = json.loads(text)
        return import_sillytavern_data(data, source=path.name, name=name or path.stem, kind=kind)
    except json.JSONDecodeError as exc:
        raise PresetError(f"{path.name}:{exc.lineno}", f"not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise PresetError(path.name, "JSON is nested too deeply") from None


def import_sillytavern_data(
    data: Any, *, source: str, name: str, kind: PresetKind | None = None
) -> tuple[Preset, ImportReport]:
    """Import already-parsed SillyTavern preset data (see the module docstring)."""
    section, name = _unwrap(data, source, name)
    kind = kind or _detect_kind(section, source)
    reader = Reader(source)
    codecs = codecs_for(kind)
    fields = decode_all(codecs, section, reader)
    preset = _validated(name, fields, codecs, source)
    kept = _kept_values(section, preset, kind, codecs)
    reader.lost.extend(_unhonoured(section, codecs))
    reader.notes.extend(_other_orders(section, preset, kind))
    reader.notes.extend(_switched_off(preset))
    unsupported = {item.key: item.value for item in reader.lost}
    verbatim = {k: v for k, v in kept.items() if not _same_json(v, unsupported.get(k, _MISSING))}
    extra = {"unsupported": unsupported, "sillytavern": verbatim}
    preset = _validated(name, {**fields, **extra}, codecs, source)
    report = ImportReport(source, kind, tuple(reader.lost), tuple(reader.notes), tuple(kept))
    return preset, report


def export_sillytavern(preset: Preset, kind: PresetKind = "textgen") -> dict[str, Any]:
    """The preset as a SillyTavern preset JSON object of the given format.

    The result has every key of SillyTavern 1.18's neutral preset of that format, the
    preset's honoured values, and every value of :attr:`Preset.unsupported` (honoured
    keys only while their verbatim spelling still means the current settings).
    """
    out: dict[str, Any] = dict(TEMPLATES[kind])
    codecs = codecs_for(kind)
    for codec in codecs:
        out.update(codec.encode(preset))
    raws = {**preset.unsupported, **preset.sillytavern}
    other: PresetKind = "kobold" if kind == "textgen" else "textgen"
    foreign = [c for c in codecs_for(other) if not set(c.keys) & set(TEMPLATES[kind])]
    for codec in [*codecs, *foreign]:
        mine = {k: raws.pop(k) for k in codec.keys if k in raws}
        if mine and means_current(codec, mine, preset):
            out.update(mine)
    out.update(raws)
    return out


def export_master(preset: Preset) -> dict[str, Any]:
    """A SillyTavern master export holding only this text-completion preset."""
    return {"preset": {**export_sillytavern(preset, "textgen"), "name": preset.name}}


# -- helpers -------------------------------------------------------------------------------


def _unwrap(data: Any, source: str, name: str) -> tuple[dict[str, Any], str]:
    """The sampler mapping inside ``data`` and the preset name to use."""
    if not isinstance(data, dict):
        raise PresetError(source, "expected a JSON object at the top level")
    for wrapper in ("preset", "textgen"):
        inner = data.get(wrapper)
        if isinstance(inner, dict):
            inner = dict(inner)
            inner_name = inner.pop("name", name)
            if not isinstance(inner_name, str) or not inner_name.strip():
                raise PresetError(source, f"{wrapper}.name: expected a non-empty string")
            return inner, inner_name
    key = active_sampler_key(data)
    if key is not None:
        section = data.get(key)
        if not isinstance(section, dict):
            raise PresetError(source, f"{key}: expected an object")
        return dict(section), name
    return data, name


def active_sampler_key(data: Mapping[str, Any]) -> str | None:
    """The key of ``settings.json``'s sampler settings for the API in use.

    ``kai_settings`` when KoboldAI is the API in use and the file has them, else
    ``textgenerationwebui_settings``; None for data that holds neither (not a settings file).
    """
    if "textgenerationwebui_settings" not in data and "kai_settings" not in data:
        return None
    kobold = data.get("main_api") in _KOBOLD_APIS and "kai_settings" in data
    return "kai_settings" if kobold else "textgenerationwebui_settings"


def _detect_kind(section: Mapping[str, Any], source: str) -> PresetKind:
    if KOBOLD_ONLY_KEYS & set(section):
        return "kobold"
    if any(key in section for key in _MARKERS):
        return "textgen"
    raise PresetError(source, "not a SillyTavern sampler preset (no temp, top_k, top_p, rep_pen)")


def _codec_keys(codecs: list[Codec]) -> set[str]:
    return {key for codec in codecs for key in codec.keys}


def _unhonoured(section: Mapping[str, Any], codecs: list[Codec]) -> list[LostSetting]:
    """Keys no codec reads whose value is not neutral (unknown keys included)."""
    lost: list[LostSetting] = []
    read = _codec_keys(codecs)
    for key, value in section.items():
        rule = UNHONOURED.get(key)
        if key in read:
            continue
        if rule is None:
            lost.append(LostSetting(key, value, "unknown SillyTavern key"))
        elif not rule.is_neutral(value, section):
            lost.append(LostSetting(key, value, rule.reason))
    return lost


def _other_orders(section: Mapping[str, Any], preset: Preset, kind: PresetKind) -> list[str]:
    """Notes on other backends' sampler orders that sort the active samplers differently.

    SillyTavern sends a llama.cpp server only ``samplers``, so these orders are not lost
    settings: they are kept for the export and noted.
    """
    applied = applied_key(section, kind)
    if applied is None:
        return []
    mine = effective_order(applied, list(preset.order), preset)
    notes: list[str] = []
    for key in order_keys(kind):
        if key == applied or key not in section:
            continue
        try:
            theirs = effective_order(key, order_stages(key, section, Reader(key)), preset)
        except PresetError as exc:
            notes.append(f"{key}: {BACKENDS[key]}'s order is not readable ({exc.problem})")
            continue
        if theirs != mine:
            notes.append(
                f"{key}: {BACKENDS[key]}'s order ({' > '.join(theirs)}) is kept but not "
                f"applied; the chain follows `{applied}` ({' > '.join(mine)})"
            )
    return notes


def _switched_off(preset: Preset) -> list[str]:
    """Notes on set penalties that a look-back of 0 switches off (llama.cpp's meaning)."""
    notes = []
    settings = preset.to_sampler_settings()
    penalised = preset.repeat_penalty != 1 or preset.frequency_penalty or preset.presence_penalty
    if penalised and not stage_is_active("penalties", settings):
        notes.append(
            "rep_pen_range = 0 switches the repetition penalties off, as llama.cpp reads it "
            "(-1 is the whole context; a settings.json section reads it as its type does)"
        )
    if preset.dry_multiplier > 0 and not stage_is_active("dry", settings):
        notes.append(
            "dry_penalty_last_n = 0 switches DRY off, as llama.cpp reads it "
            "(-1 is the whole context)"
        )
    return notes


def _validated(name: str, fields: dict[str, Any], codecs: list[Codec], source: str) -> Preset:
    rename = {f: codec.keys[0] for codec in reversed(codecs) for f in codec.fields}
    try:
        return Preset.model_validate({"name": name, **fields})
    except ValidationError as exc:
        raise PresetError(source, describe_validation_error(exc, rename)) from None


def _kept_values(
    section: Mapping[str, Any], preset: Preset, kind: PresetKind, codecs: list[Codec]
) -> dict[str, Any]:
    """Source values an export would not reproduce by itself."""
    canonical: dict[str, Any] = dict(TEMPLATES[kind])
    for codec in codecs:
        canonical.update(codec.encode(preset))
    return {
        key: value
        for key, value in section.items()
        if not _same_json(value, canonical.get(key, _MISSING))
    }


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values (1 == 1.0, but true != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
