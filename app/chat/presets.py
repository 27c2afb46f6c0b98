"""The preset service: sampler presets (YAML), prompt formats, SillyTavern imports.

SillyTavern files (sampler presets, templates, reasoning templates) are imported by the
:class:`~app.chat.imports.Importer`, the same way ``parlor import`` does, so what is
imported is kept across restarts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml
from pydantic import ValidationError

from app.chat.imports import Importer, ImportResult, ItemKind
from app.errors import PresetError, TemplateError
from app.presets.library import PresetLibrary, dump_preset_yaml
from app.presets.model import Preset, describe_validation_error
from app.prompt.formats import PromptFormat
from app.prompt.registry import FormatRegistry

#: What the Presets page imports (cards, lorebooks and chats have their own pages).
PAGE_KINDS: Final[tuple[ItemKind, ...]] = ("preset", "template", "reasoning")


def preset_from_yaml(text: str, default_name: str) -> Preset:
    """Validate the editor's YAML as a preset (the name defaults to the chosen preset's)."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"preset:{mark.line + 1}" if mark is not None else "preset"
        raise PresetError(
            where, f"not valid YAML ({getattr(exc, 'problem', None) or exc})"
        ) from None
    if not isinstance(data, dict):
        raise PresetError("preset", "expected a mapping of preset keys")
    return Preset.from_data({"name": default_name, **data}, source="preset editor")


def format_from_json(text: str) -> PromptFormat:
    """Validate the editor's JSON as a prompt format."""
    try:
        return PromptFormat.model_validate_json(text)
    except ValidationError as exc:
        raise TemplateError("format editor", describe_validation_error(exc)) from None


@dataclass(frozen=True)
class PresetView:
    """One preset as the editor shows it."""

    key: str
    yaml: str
    file_name: str
    #: False for a bundled preset (saving it makes the user's own copy).
    editable: bool


class PresetService:
    """Reads, saves and imports sampler presets and prompt formats."""

    def __init__(self, presets: PresetLibrary, formats: FormatRegistry, importer: Importer) -> None:
        self._presets = presets
        self._formats = formats
        self._importer = importer

    def preset_names(self) -> list[str]:
        """Every preset's key, sorted."""
        return self._presets.names()

    def format_names(self) -> list[str]:
        """Every prompt format's name, sorted."""
        return self._formats.names()

    def preset(self, key: str) -> PresetView:
        """A preset's YAML and where it lives (``PresetError`` if it is malformed)."""
        path = self._presets.path_of(key)
        text = dump_preset_yaml(self._presets.load(key))
        editable = path.parent.resolve() == self._presets.writable_dir.resolve()
        return PresetView(path.stem, text, path.name, editable)

    def format_json(self, name: str) -> str:
        """A prompt format as pretty JSON."""
        dumped = self._formats.get(name).model_dump(mode="json")
        return json.dumps(dumped, indent=2, ensure_ascii=False)

    def save_preset(self, text: str, default_name: str) -> Path:
        """Validate the YAML and write the preset into the user's presets folder."""
        return self._presets.save(preset_from_yaml(text, default_name))

    def delete_preset(self, key: str) -> None:
        """Delete one of the user's presets (bundled ones stay)."""
        self._presets.delete(key)

    def apply_format(self, text: str) -> PromptFormat:
        """Validate the JSON and use it as a prompt format until Parlor restarts."""
        fmt = format_from_json(text)
        self._formats.add(fmt)
        return fmt

    def import_file(self, path: Path) -> ImportResult:
        """Import a SillyTavern preset, template or reasoning template file; errors are in
        the result."""
        return self._importer.import_file(path, only=PAGE_KINDS)

    def preset_key(self, name: str) -> str | None:
        """The key of the preset called ``name`` (None when there is none)."""
        return self._presets.path_of(name).stem if self._presets.exists(name) else None
