"""The settings service: the settings in effect now, and ``config.yaml`` for the next start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.chat.models import ModelService
from app.config_file import validate_config, write_atomically
from app.settings import CONFIG_FILE_NAME, SECRET_SETTINGS, Settings


@dataclass(frozen=True)
class SettingRow:
    """One setting as the Settings page lists it."""

    name: str
    value: str
    meaning: str


def shown_value(name: str, value: object) -> str:
    """A setting's value as text (secrets hidden, nothing for None)."""
    if name in SECRET_SETTINGS and value:
        return "(set)"
    return "" if value is None else str(value)


class ConfigService:
    """Reads the settings in effect and reads or writes ``config.yaml``."""

    def __init__(self, settings: Settings, models: ModelService) -> None:
        self._settings = settings
        self._models = models

    @property
    def path(self) -> Path:
        """The data folder's ``config.yaml``."""
        return self._settings.data_dir / CONFIG_FILE_NAME

    def rows(self) -> list[SettingRow]:
        """Every setting with the value in effect now: model settings as loaded."""
        live = self._models.values_in_use()
        rows = []
        for name, field in Settings.model_fields.items():
            started = shown_value(name, getattr(self._settings, name))
            value = shown_value(name, live[name]) if name in live else started
            if name in live and value != started:
                value = f"{value or '(none loaded)'} (configured: {started or 'default'})"
            rows.append(SettingRow(name, value, field.description or ""))
        return rows

    def read(self) -> str:
        """The text of ``config.yaml`` ("" when there is none)."""
        path = self.path
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def save(self, text: str) -> Path:
        """Check ``text`` as Parlor reads it at start, then write it (SettingsError if bad)."""
        validate_config(text)
        write_atomically(self.path, text)
        return self.path
