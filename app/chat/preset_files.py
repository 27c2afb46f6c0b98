"""Saving an imported sampler preset without replacing anyone's.

An identical preset (same samplers, reply length and stop strings) is reported as already
there; a different one of the same name is saved as ``Name (2)`` (then ``(3)``, …); a
bundled preset of the name is replaced by the user's copy, with a report line.
"""

from __future__ import annotations

from app.chat.format_files import Stored, numbered
from app.errors import PresetError
from app.presets.library import PresetLibrary
from app.presets.model import Preset


def store_preset(presets: PresetLibrary, preset: Preset) -> Stored:
    """Save ``preset`` into the user's folder under the naming policy above."""
    for number in range(1, 10_000):
        name = numbered(preset.name, number)
        candidate = preset.model_copy(update={"name": name})
        if not presets.exists(name):
            presets.save(candidate)
            renamed = f"a different preset named {preset.name!r} exists; saved as {name!r}"
            return Stored(name, True, () if number == 1 else (renamed,))
        if same_samplers(_existing(presets, name), candidate):
            return Stored(name, False, (f"already there: preset {name!r}",))
        if number == 1 and _is_bundled(presets, name):
            presets.save(candidate)
            return Stored(name, True, (f"replaces the bundled preset {name!r} for you",))
    raise PresetError(preset.name, "too many presets of this name")


def same_samplers(existing: Preset | None, new: Preset) -> bool:
    """Whether two presets sample alike (same samplers, reply length and stop strings)."""
    if existing is None:
        return False
    return (
        existing.to_sampler_settings() == new.to_sampler_settings()
        and existing.max_new_tokens == new.max_new_tokens
        and existing.stop == new.stop
    )


def _existing(presets: PresetLibrary, name: str) -> Preset | None:
    try:
        return presets.load(name)
    except PresetError:
        return None


def _is_bundled(presets: PresetLibrary, name: str) -> bool:
    return presets.path_of(name).parent.resolve() != presets.writable_dir.resolve()
