"""The Settings page: the settings in effect, and ``config.yaml`` for the next start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from app.config_file import validate_config, write_atomically
from app.context import AppContext
from app.errors import ParlorError
from app.settings import CONFIG_FILE_NAME, Settings
from app.ui.render import status_html

Updates = dict[Any, Any]
TABLE_HEADERS = ["Setting", "Value now", "Meaning"]


def settings_rows(settings: Settings) -> list[list[str]]:
    """One row per setting: name, current value (secrets hidden) and help text."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if name.endswith("api_key") and value:
            value = "(set)"
        rows.append([name, "" if value is None else str(value), field.description or ""])
    return rows


class SettingsPage:
    """Components and handlers of the Settings page."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    @property
    def config_path(self) -> Path:
        """The data folder's ``config.yaml``."""
        return self.context.settings.data_dir / CONFIG_FILE_NAME

    def render(self) -> None:
        """Create the components inside the current tab."""
        gr.Markdown(
            "Settings in effect now (command line > environment > `config.yaml` > defaults). "
            "Model options can be changed without a restart on the Models tab."
        )
        self.table = gr.Dataframe(
            value=settings_rows(self.context.settings),
            headers=TABLE_HEADERS,
            interactive=False,
            wrap=True,
            elem_id="parlor-settings",
        )
        self.config = gr.Code(
            label=f"{self.config_path} (used from the next start)",
            language="yaml",
            lines=10,
            elem_id="parlor-config",
        )
        self.save = gr.Button("Save config.yaml", variant="primary", elem_id="parlor-config-save")
        self.status = gr.HTML(elem_id="parlor-config-status")
        self.save.click(self.save_config, [self.config], [self.status], show_progress="hidden")

    def refresh(self) -> Updates:
        """Re-read ``config.yaml`` (when the tab is shown)."""
        path = self.config_path
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        return {self.config: text, self.table: settings_rows(self.context.settings)}

    def save_config(self, text: str) -> str:
        """Validate and write ``config.yaml``."""
        try:
            validate_config(text or "")
        except ParlorError as exc:
            return status_html(str(exc), error=True)
        write_atomically(self.config_path, text or "")
        return status_html("Saved; the new settings apply the next time Parlor starts.")
