"""A SillyTavern setup, stored all or nothing: ``settings.json``, a master export's
reasoning template.

``settings.json`` makes the instruct preset, context template and system prompt in use
one prompt format and the default; the selected sampler preset becomes the default
preset, the selected reasoning template (``power_user.reasoning``) the default reasoning
template, and the persona in use the default persona.  A master export's reasoning
template becomes the default reasoning template too.

Everything is read and every name chosen before anything is stored; the files (format,
preset, reasoning template) are written last, inside the transaction that stores the
personas and the defaults, so a failure anywhere leaves none of them behind.  (The
transaction holds SQLite's write lock from its start: only an I/O error at the commit
itself could still part the files from the database.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.chat.format_files import FormatFiles, FormatPlan, Stored
from app.chat.library import CharacterLibrary, PersonaImport
from app.chat.preset_files import PresetPlan, plan_preset
from app.chat.reasoning_files import ReasoningPlan, ReasoningTemplates
from app.chat.st_folder import AVATARS, persona_imports, read_settings, selected_preset
from app.chat.st_personas import STPersona
from app.presets.library import PresetLibrary
from app.prompt.reasoning import ReasoningTemplate
from app.prompt.st_import import import_st_data
from app.prompt.st_reasoning import selected_reasoning
from app.storage.repositories import PreferencesRepository


class SetupImport:
    """Stores SillyTavern setups into the user's formats, presets, reasoning templates,
    personas and defaults (one transaction each)."""

    def __init__(
        self,
        library: CharacterLibrary,
        presets: PresetLibrary,
        formats: FormatFiles,
        reasoning: ReasoningTemplates,
        preferences: PreferencesRepository,
    ) -> None:
        self._library = library
        self._presets = presets
        self._formats = formats
        self._reasoning = reasoning
        self._preferences = preferences

    def settings(self, path: Path) -> Stored:
        """The active setup of ``settings.json`` (named after its format)."""
        data = read_settings(path)
        parts = import_st_data(data, source=str(path))
        personas = persona_imports(data, path.parent / AVATARS)
        fmt = self._formats.plan(parts)
        chosen, preset_lines = self._selected_preset(data, path)
        reasoning, reasoning_name, reasoning_lines = self._selected_reasoning(data, path)
        lines = [*parts.report, *fmt.stored.lines, *preset_lines, *reasoning_lines]
        preset_name = chosen.stored.name if chosen is not None else None
        prefs = self._preferences
        with self._library.db.transaction() as session:
            lines += self._personas(personas, session)
            prefs.set_default_format(fmt.stored.name, session=session)
            if preset_name is not None:
                prefs.set_default_preset(preset_name, session=session)
            if reasoning_name is not None:
                prefs.set_default_reasoning_template(reasoning_name, session=session)
            self._write(fmt, chosen, reasoning)
        defaults = (("format", fmt.stored.name), ("preset", preset_name),
                    ("reasoning template", reasoning_name))  # fmt: skip
        line = ", ".join(f"default {what} {name!r}" for what, name in defaults if name)
        return Stored(fmt.stored.name, True, (*lines, line))

    def default_reasoning(self, template: ReasoningTemplate, fmt: FormatPlan | None) -> Stored:
        """Store ``template`` (and the format ``fmt`` plans) and make it the default
        reasoning template (a master export's); ``changed`` is the template's."""
        plan = self._reasoning.plan(template)
        name = plan.stored.name
        with self._library.db.transaction() as session:
            self._preferences.set_default_reasoning_template(name, session=session)
            self._write(fmt, None, plan)
        lines = (*plan.stored.lines, f"default reasoning template {name!r}")
        return Stored(name, plan.stored.changed, lines)

    def _selected_preset(
        self, data: Mapping[str, Any], path: Path
    ) -> tuple[PresetPlan | None, list[str]]:
        """Where the sampler preset ``settings.json`` selects would go, and report lines."""
        preset, report = selected_preset(data, path)
        if preset is None or report is None:
            return None, []
        chosen = plan_preset(self._presets, preset)
        notes = (*report.lines(), *chosen.stored.lines)
        return chosen, [f"preset {chosen.stored.name!r}: {line}" for line in notes]

    def _selected_reasoning(
        self, data: Mapping[str, Any], path: Path
    ) -> tuple[ReasoningPlan | None, str | None, list[str]]:
        """The reasoning template ``settings.json`` selects: where its parts would go (if
        it holds them), the name that becomes the default, and report lines."""
        selected = selected_reasoning(data, str(path))
        if selected is None:
            return None, None, []
        name, template = selected
        if template is not None:
            plan = self._reasoning.plan(template)
            return plan, plan.stored.name, list(plan.stored.lines)
        if self._reasoning.has(name):
            return None, name, []
        return None, None, [f"reasoning template {name!r} is not here: not made the default"]

    def _personas(
        self, personas: list[tuple[PersonaImport, STPersona]], session: Session
    ) -> list[str]:
        """Store the personas of ``settings.json`` in ``session``; their report lines."""
        lines: list[str] = []
        for persona, spec in personas:
            stored, created = self._library.import_persona(persona, session=session)
            state = "imported" if created else "already there"
            default = " (the default)" if persona.default else ""
            lines += [f"persona {stored.name!r}: {state}{default}", *spec.report]
        return lines

    def _write(
        self, fmt: FormatPlan | None, preset: PresetPlan | None, reasoning: ReasoningPlan | None
    ) -> None:
        """Write the preset and the reasoning template (always new files), then the format.

        A failed write removes the new files again.
        """
        saved: Path | None = None
        made: Path | None = None
        try:
            if preset is not None and preset.save is not None:
                saved = self._presets.save(preset.save)
            made = self._reasoning.write(reasoning) if reasoning is not None else None
            if fmt is not None:
                self._formats.write(fmt)
        except BaseException:
            if saved is not None:
                saved.unlink(missing_ok=True)
            if made is not None:
                self._reasoning.discard(made)
            raise
