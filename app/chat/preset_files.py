"""Saving an imported sampler preset without replacing anyone's.

An identical preset (same samplers, reply length and stop strings) is reported as already
there; a different one of the same name is saved as ``Name (2)`` (then ``(3)``, …); a
bundled preset of the name is replaced by the user's copy, with a report line.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.chat.format_files import Stored, numbered
from app.errors import PresetError
from app.presets.library import PresetLibrary
from app.presets.model import Preset


@dataclass(frozen=True)
class PresetPlan:
    """What storing a preset will do: the outcome, and the preset to save (if any)."""

    stored: Stored
    #: The preset to write into the user's folder (None: nothing changes).
    save: Preset | None = None


def store_preset(presets: PresetLibrary, preset: Preset) -> Stored:
    """Save ``preset`` into the user's folder under the naming policy above."""
    plan = plan_preset(presets, preset)
    if plan.save is not None:
        presets.save(plan.save)
    return plan.stored


def plan_preset(presets: PresetLibrary, preset: Preset) -> PresetPlan:
    """Where ``preset`` would go under the naming policy; nothing is written yet."""
    for number in range(1, 10_000):
        name = numbered(preset.name, number)
        candidate = preset.model_copy(update={"name": name})
        if not presets.exists(name):
            renamed = f"a different preset named {preset.name!r} exists; saved as {name!r}"
            return PresetPlan(Stored(name, True, () if number == 1 else (renamed,)), candidate)
        if same_samplers(_existing(presets, name), candidate):
            return PresetPlan(Stored(name, False, (f"already there: preset {name!r}",)))
        if number == 1 and _is_bundled(presets, name):
            note = f"replaces the bundled preset {name!r} for you"
            return PresetPlan(Stored(name, True, (note,)), candidate)
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
