"""The Settings page: the settings in effect now, and ``config.yaml`` for the next start.

The page holds the settings service only.  Model settings show what is in use now (the
model loaded on the Models page and its real context size), not the start-up values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import gradio as gr

from app.chat.config import ConfigService
from app.ui.boundary import Boundary
from app.ui.render import status_html

Updates = dict[Any, Any]
TABLE_HEADERS: Final = ["Setting", "Value now", "Meaning"]


@dataclass(frozen=True)
class SettingsView:
    """The settings table and the ``config.yaml`` editor."""

    table: gr.Dataframe
    config: gr.Code
    save: gr.Button
    status: gr.HTML


class SettingsPage:
    """Components and handlers of the Settings page."""

    view: SettingsView
    boundary: Boundary

    def __init__(self, config: ConfigService) -> None:
        self.config_service = config

    def rows(self) -> list[list[str]]:
        """The settings table: name, value now (secrets hidden), meaning."""
        return [[row.name, row.value, row.meaning] for row in self.config_service.rows()]

    def render(self) -> None:
        """Create the components inside the current tab."""
        gr.Markdown(
            "Settings in effect now (command line > environment > `config.yaml` > defaults). "
            "Model options can be changed without a restart on the Models tab."
        )
        table = gr.Dataframe(value=self.rows(), headers=TABLE_HEADERS, interactive=False,
                             wrap=True, elem_id="parlor-settings")  # fmt: skip
        config = gr.Code(label=f"{self.config_service.path} (used from the next start)",
                         language="yaml", lines=10, elem_id="parlor-config")  # fmt: skip
        save = gr.Button("Save config.yaml", variant="primary", elem_id="parlor-config-save")
        self.view = SettingsView(table, config, save, gr.HTML(elem_id="parlor-config-status"))
        self.boundary = Boundary(self.view.status)
        save.click(self.boundary.guard(self.save_config), [config], [self.view.status],
                   show_progress="hidden")  # fmt: skip

    @property
    def table(self) -> gr.Dataframe:
        """The settings table."""
        return self.view.table

    @property
    def config(self) -> gr.Code:
        """The ``config.yaml`` editor."""
        return self.view.config

    def wire_tab(self, tab: gr.Tab) -> None:
        """Re-read the settings whenever ``tab`` is shown."""
        tab.select(self.boundary.guard(self.refresh), None,
                   [self.view.config, self.view.table, self.view.status],
                   show_progress="hidden")  # fmt: skip

    def refresh(self) -> Updates:
        """Re-read ``config.yaml`` and the settings in effect (when the tab is shown)."""
        return {self.view.config: self.config_service.read(), self.view.table: self.rows()}

    def save_config(self, text: str) -> Updates:
        """Validate and write ``config.yaml``."""
        self.config_service.save(text or "")
        return {
            self.view.status: status_html(
                "Saved; the new settings apply the next time Parlor starts."
            )
        }
