"""Card JSON shapes: V1 / Pygmalion / text-generation-webui YAML / V2 / V3 <-> CharacterCard.

Reading follows SillyTavern: ``data`` wins over the mirrored top-level V1 fields, and
flat (pre-V2) shapes are upgraded with every other key kept.  Writing follows ST's
``charaFormatData()``: the V2 object carries the V1 fields, ``creatorcomment`` and
``tags`` at the top level as well as the whole ``data`` object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from app.cards._util import JSONDict, deep_copy, is_str_list, type_name
from app.cards.model import RESERVED_TOP_LEVEL, V1_FIELDS, CharacterCard, new_card_data
from app.errors import CardError

SPEC_V2: Final = "chara_card_v2"
SPEC_V3: Final = "chara_card_v3"

#: Flat shapes: the data field and the keys that may hold it, first found wins.
#: Covers Tavern V1, Pygmalion/Gradio JSON and text-generation-webui YAML characters.
_FLAT_SOURCES: Final = (
    ("name", ("name", "char_name", "bot")),
    ("description", ("description", "context", "char_persona")),
    ("personality", ("personality",)),
    ("scenario", ("scenario", "world_scenario")),
    ("first_mes", ("first_mes", "greeting", "char_greeting")),
    ("mes_example", ("mes_example", "example_dialogue")),
    ("creator_notes", ("creatorcomment",)),
)


def card_from_object(
    obj: object,
    *,
    source_name: str,
    source_format: str,
    avatar: bytes | None = None,
) -> CharacterCard:
    """Turn a parsed card object (any supported shape) into a :class:`CharacterCard`.

    Raises :class:`~app.errors.CardError` naming ``source_name`` when the object is not a
    card or a field has the wrong type.
    """
    if not isinstance(obj, dict):
        raise CardError(source_name, f"card JSON must be an object, got {type_name(obj)}")
    spec = obj.get("spec")
    if spec is not None or isinstance(obj.get("data"), dict):
        return _from_spec_object(obj, source_name, source_format, avatar)
    if any(key in obj for key in ("name", "char_name", "bot")):
        kind = "chara_card_v1"
        if "char_name" in obj and "name" not in obj:
            kind = "pygmalion"
        elif source_format == "yaml":
            kind = "text_generation_webui"
        return card_from_flat(
            obj, spec=kind, source_name=source_name, source_format=source_format, avatar=avatar
        )
    if "entries" in obj:
        raise CardError(source_name, "this is a lorebook / World Info file, not a character card")
    raise CardError(source_name, "not a character card: no spec, data or name field")


def _from_spec_object(
    obj: JSONDict, source_name: str, source_format: str, avatar: bytes | None
) -> CharacterCard:
    """Read a V2/V3 object (``{"spec", "spec_version", "data"}``)."""
    spec = obj.get("spec")
    if spec is None:
        spec = SPEC_V2
    if not isinstance(spec, str):
        raise CardError(source_name, f"spec must be a string, got {type_name(spec)}")
    if spec.startswith("lorebook"):
        raise CardError(source_name, f"this is a lorebook ({spec}), not a character card")
    if not spec.startswith("chara_card_v"):
        raise CardError(source_name, f"unsupported card spec {spec!r}")
    data = obj.get("data")
    if not isinstance(data, dict):
        raise CardError(source_name, f"{spec} card has no data object (got {type_name(data)})")
    data = dict(data)
    for key in V1_FIELDS:  # fill gaps from the mirrored top level, as ST's readers do
        if data.get(key) is None and isinstance(obj.get(key), str):
            data[key] = obj[key]
    if data.get("creator_notes") is None and isinstance(obj.get("creatorcomment"), str):
        data["creator_notes"] = obj["creatorcomment"]
    if data.get("tags") is None and is_str_list(obj.get("tags")):
        data["tags"] = obj["tags"]
    version = obj.get("spec_version", "")
    return CharacterCard(
        data,
        extra={k: v for k, v in obj.items() if k not in RESERVED_TOP_LEVEL},
        avatar=avatar,
        key_order=tuple(obj),
        spec=spec,
        spec_version=version if isinstance(version, str) else str(version),
        source_format=source_format,
        source_name=source_name,
    )


def _flat_tags(value: object, source_name: str) -> list[str]:
    """Tags of a flat card: a list of strings or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    if is_str_list(value):
        return list(value)
    raise CardError(source_name, f"tags must be a list of strings, got {type_name(value)}")


def card_from_flat(
    obj: Mapping[str, Any],
    *,
    spec: str,
    source_name: str,
    source_format: str,
    avatar: bytes | None = None,
) -> CharacterCard:
    """Upgrade a flat character (V1, Pygmalion, text-generation-webui YAML) to V3.

    Mapped keys become ``data`` fields (``context`` -> description, ``greeting`` ->
    first_mes, ``example_dialogue`` -> mes_example, ``world_scenario`` -> scenario,
    ``char_persona`` -> description, ``creatorcomment`` -> creator_notes); every other key
    is kept as a top-level extra so nothing is lost.
    """
    rest: JSONDict = deep_copy(dict(obj))
    data: JSONDict = {}
    for target, candidates in _FLAT_SOURCES:
        for key in candidates:
            if key in rest and rest[key] is not None:
                value = rest.pop(key)
                if not isinstance(value, str):
                    raise CardError(source_name, f"{key} must be a string, got {type_name(value)}")
                data[target] = value
                break
    tags = _flat_tags(rest.pop("tags", None), source_name)
    return CharacterCard(
        new_card_data(str(data.pop("name", "")), tags=tags, **data),
        extra={k: v for k, v in rest.items() if k not in RESERVED_TOP_LEVEL},
        avatar=avatar,
        key_order=tuple(obj),
        spec=spec,
        spec_version="1.0" if spec == "chara_card_v1" else "",
        source_format=source_format,
        source_name=source_name,
    )


def _ordered(obj: JSONDict, key_order: tuple[str, ...]) -> JSONDict:
    """Reorder keys: those of ``key_order`` first, in that order, then the rest as they are.

    This is what ST's lodash ``_.set`` on the parsed source object amounts to: keys that
    existed keep their place and new keys are appended.
    """
    out = {key: obj[key] for key in key_order if key in obj}
    out.update((key, value) for key, value in obj.items() if key not in out)
    return out


def to_v2_object(card: CharacterCard) -> JSONDict:
    """The V2 object SillyTavern writes: V1 fields mirrored at the top level plus ``data``."""
    data = deep_copy(card.data)
    obj: JSONDict = {key: data[key] for key in V1_FIELDS}
    obj["creatorcomment"] = data["creator_notes"]
    obj.update(deep_copy(card.extra))
    obj["tags"] = list(data["tags"])
    obj["spec"] = SPEC_V2
    obj["spec_version"] = "2.0"
    obj["data"] = data
    return _ordered(obj, card.key_order)


def to_st_v3_object(card: CharacterCard) -> JSONDict:
    """The ``ccv3`` chunk ST writes: the V2 object with only ``spec``/``spec_version`` changed."""
    obj = to_v2_object(card)
    obj["spec"] = SPEC_V3
    obj["spec_version"] = "3.0"
    return obj


def to_v3_object(card: CharacterCard) -> JSONDict:
    """A plain V3 object (``spec``, ``spec_version``, ``data``) plus the unknown top-level keys."""
    obj: JSONDict = {"spec": SPEC_V3, "spec_version": "3.0", "data": deep_copy(card.data)}
    obj.update(deep_copy(card.extra))
    return _ordered(obj, card.key_order)
