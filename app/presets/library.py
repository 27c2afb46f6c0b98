"""YAML preset files: reading, writing (atomically) and listing a set of folders.

A preset file holds the preset's name and only the values that differ from neutral::

    name: Euryale
    description: Sao10K's recommended samplers for L3-70B-Euryale.
    temperature: 1.17
    min_p: 0.075
    repeat_penalty: 1.1
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from app.errors import NotFound, PresetError
from app.presets.model import Preset

SUFFIX = ".yaml"
_UNSAFE = re.compile(r"[^\w .,()&'+-]")


def bundled_presets_dir() -> Path:
    """The ``presets/`` folder shipped next to the ``app`` package."""
    return Path(__file__).resolve().parents[2] / "presets"


def file_name_for(name: str) -> str:
    """A safe file name for a preset name (no path separators, no leading dot)."""
    cleaned = _UNSAFE.sub("_", name).strip().lstrip(".")
    return (cleaned or "preset") + SUFFIX


def load_preset_file(path: Path) -> Preset:
    """Read one YAML preset; every problem raises PresetError naming the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(path.name, f"cannot read the file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise PresetError(path.name, "YAML is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark is not None else path.name
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PresetError(where, f"not valid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PresetError(path.name, "expected a mapping of preset keys at the top level")
    data = {"name": path.stem, **data}
    try:
        return Preset.from_data(data, source=path.name)
    except RecursionError:
        raise PresetError(path.name, "YAML is nested too deeply") from None


def dump_preset_yaml(preset: Preset) -> str:
    """The YAML text of a preset (differences from neutral only)."""
    data: dict[str, Any] = preset.to_yaml_data()
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def save_preset_file(preset: Preset, path: Path) -> None:
    """Write a preset atomically: a temporary file in the same folder, then a rename."""
    text = dump_preset_yaml(preset)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


class PresetLibrary:
    """Presets found in a list of folders; earlier folders win, the first one is writable.

    Typical use: ``PresetLibrary([user_dir, bundled_presets_dir()])``.  A preset is
    identified by its file name; its ``name`` inside the file defaults to that stem.
    """

    def __init__(self, dirs: Sequence[Path]) -> None:
        if not dirs:
            raise ValueError("PresetLibrary needs at least one folder")
        self.dirs: tuple[Path, ...] = tuple(Path(d) for d in dirs)

    @property
    def writable_dir(self) -> Path:
        """Where :meth:`save` writes."""
        return self.dirs[0]

    def paths(self) -> dict[str, Path]:
        """Preset key (file stem) → file, the first folder that has it winning."""
        found: dict[str, Path] = {}
        for folder in self.dirs:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                if not path.name.startswith("."):
                    found.setdefault(path.stem, path)
        return dict(sorted(found.items(), key=lambda item: item[0].casefold()))

    def names(self) -> list[str]:
        """Keys of every preset, sorted case-insensitively."""
        return list(self.paths())

    def exists(self, name: str) -> bool:
        """Whether a preset called ``name`` is there."""
        try:
            self.path_of(name)
        except NotFound:
            return False
        return True

    def path_of(self, name: str) -> Path:
        """The file of preset ``name`` (by key, or by the safe file name of ``name``)."""
        paths = self.paths()
        key = name if name in paths else file_name_for(name)[: -len(SUFFIX)]
        if key not in paths:
            raise NotFound("preset", name)
        return paths[key]

    def load(self, name: str) -> Preset:
        """Read preset ``name``; NotFound if absent, PresetError if malformed."""
        return load_preset_file(self.path_of(name))

    def load_all(self) -> tuple[dict[str, Preset], list[PresetError]]:
        """Every preset that loads, plus the errors of those that do not."""
        presets: dict[str, Preset] = {}
        errors: list[PresetError] = []
        for key, path in self.paths().items():
            try:
                presets[key] = load_preset_file(path)
            except PresetError as exc:
                errors.append(exc)
        return presets, errors

    def save(self, preset: Preset) -> Path:
        """Write ``preset`` into the writable folder (atomically) and return its path."""
        path = self.writable_dir / file_name_for(preset.name)
        save_preset_file(preset, path)
        return path

    def delete(self, name: str) -> None:
        """Remove a preset from the writable folder (bundled presets cannot be deleted)."""
        path = self.path_of(name)
        if path.parent.resolve() != self.writable_dir.resolve():
            raise PresetError(path.name, "is a bundled preset and cannot be deleted")
        path.unlink()


_LLAMA3 = re.compile(r"llama[-_ .]?3(?!\d)|(?<![a-z0-9])l3[-_.]|euryale|stheno", re.IGNORECASE)
_LLAMA3_VOCAB = 128256


def default_preset_name(
    architecture: str | None, model_name: str, *, vocab_size: int | None = None
) -> str:
    """The bundled preset to start a model with.

    Llama-3 family models (by name, or a ``llama`` GGUF with Llama 3's 128256-token
    vocabulary) get ``Euryale``; everything else gets ``Universal-Light`` (min-p).
    """
    if _LLAMA3.search(model_name):
        return "Euryale"
    if (architecture or "").lower() == "llama" and vocab_size == _LLAMA3_VOCAB:
        return "Euryale"
    return "Universal-Light"
