"""SillyTavern's sampler-order keys and Parlor's stage order.

Each text-completion backend has its own key in a SillyTavern preset: llama.cpp's
``samplers`` (names), text-generation-webui's ``sampler_priority`` (names), Aphrodite's
``samplers_priorities`` (names) and KoboldCpp's ``sampler_order`` (indices; the only one
in a KoboldAI preset).  Parlor runs llama.cpp, so the first of these a preset has is
applied, in that order of preference.  Another backend's order that sorts the preset's
active samplers differently (:func:`effective_order`) is not honoured, and the import
report says so.

Names of samplers Parlor lacks (``tfs_z``, Top-A, …) are left out of the order: when such
a sampler is set, its own key is reported as not honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from app.engine.sampler_names import (
    APHRODITE_STAGES,
    OOBA_STAGES,
    kobold_order,
    llamacpp_order,
    named_order,
)
from app.engine.sampling import (
    SamplerStage,
    active_stages,
    complete_order,
    stage_order,
)
from app.presets.model import Preset
from app.presets.st_tables import PresetKind

if TYPE_CHECKING:
    from app.presets.st_codecs import Reader

#: Order keys of a text-completion preset, most preferred first.
TEXTGEN_ORDER_KEYS: Final = ("samplers", "sampler_priority", "samplers_priorities", "sampler_order")
#: Which backend each order key belongs to.
BACKENDS: Final[Mapping[str, str]] = {
    "samplers": "llama.cpp",
    "sampler_priority": "text-generation-webui",
    "samplers_priorities": "Aphrodite",
    "sampler_order": "KoboldCpp",
}
_NAMED: Final[Mapping[str, Mapping[str, tuple[SamplerStage, ...]]]] = {
    "sampler_priority": OOBA_STAGES,
    "samplers_priorities": APHRODITE_STAGES,
}


def order_keys(kind: PresetKind) -> tuple[str, ...]:
    """The order keys of a preset format, most preferred first."""
    return TEXTGEN_ORDER_KEYS if kind == "textgen" else ("sampler_order",)


def applied_key(src: Mapping[str, Any], kind: PresetKind) -> str | None:
    """The order key Parlor applies: the first of :func:`order_keys` that ``src`` has."""
    return next((key for key in order_keys(kind) if key in src), None)


def order_stages(key: str, src: Mapping[str, Any], reader: Reader) -> list[SamplerStage]:
    """The full Parlor stage order that ``src[key]`` gives (unnamed stages after it)."""
    if key == "sampler_order":
        order, bad = kobold_order(reader.integers(src, key))
        if bad:
            raise reader.fail("sampler_order", f"{bad[0]} is not a KoboldAI sampler index (0-6)")
    elif key == "samplers":
        order, unknown = llamacpp_order(reader.strings(src, key))
        reader.notes += [f"samplers: {n!r} is not a llama.cpp sampler; left out" for n in unknown]
    else:
        order = named_order(reader.strings(src, key), _NAMED[key])
    return list(order)


def decode_order(src: Mapping[str, Any], reader: Reader, kind: PresetKind) -> dict[str, Any]:
    """Preset fields from the applied order key (KoboldCpp's fixes temperature's place)."""
    key = applied_key(src, kind)
    if key is None:
        return {}
    fields: dict[str, Any] = {"order": complete_order(order_stages(key, src, reader))}
    if key == "sampler_order":
        fields["temperature_last"] = False
    return fields


def effective_order(key: str, stages: list[SamplerStage], preset: Preset) -> list[SamplerStage]:
    """The active stages in the order ``stages`` gives them, as the chain would apply them."""
    settings = preset.to_sampler_settings()
    update: dict[str, Any] = {"order": complete_order(stages)}
    if key == "sampler_order":
        update["temperature_last"] = False
    ordered = settings.model_copy(update=update)
    active = set(active_stages(settings))
    return [stage for stage in stage_order(ordered) if stage in active]
