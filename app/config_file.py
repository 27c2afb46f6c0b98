"""Writing ``config.yaml``: whole (the Settings page) or a few keys (the Models page).

Every write is checked exactly as Parlor reads the file at start-up, then done through a
temporary file and a rename, so a bad value or a crash never leaves a broken config.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from app.settings import CONFIG_FILE_NAME, Settings, SettingsError


def validate_config(text: str) -> None:
    """Check ``config.yaml`` text exactly as Parlor will read it at the next start."""
    with tempfile.TemporaryDirectory(prefix="parlor-config-") as folder:
        (Path(folder) / CONFIG_FILE_NAME).write_text(text, encoding="utf-8")
        Settings.load(data_dir=Path(folder))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def update_config(data_dir: Path, values: Mapping[str, Any]) -> Path:
    """Set settings in ``data_dir``'s ``config.yaml`` (None removes one); keep the others.

    Comments in the file are not kept.  Raises SettingsError for a value Parlor would
    refuse at start-up; the file is then left as it was.
    """
    path = data_dir / CONFIG_FILE_NAME
    current: Any = {}
    if path.is_file():
        try:
            current = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise SettingsError(str(path), f"not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(current, dict):
        raise SettingsError(str(path), "must be a mapping of setting: value")
    for key, value in values.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    text = yaml.safe_dump(current, sort_keys=False, allow_unicode=True) if current else ""
    validate_config(text)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
    return path
