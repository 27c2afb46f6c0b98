"""The Presets & templates page: sampler presets (YAML), prompt formats, SillyTavern import.

The page holds the preset service only.  SillyTavern files go through the same importer
as ``parlor import``, so what is imported here is still there after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import gradio as gr

from app.chat.presets import PresetService
from app.errors import ParlorError
from app.ui.boundary import Boundary
from app.ui.render import status_html, text_list_html
from app.ui.state import page_queue
from app.ui.uploads import UploadGuard, import_uploads, report_lines

Updates = dict[Any, Any]


@dataclass(frozen=True)
class PresetEditor:
    """The sampler preset column."""

    preset: gr.Dropdown
    where: gr.HTML
    preset_yaml: gr.Code
    save: gr.Button
    delete: gr.Button
    status: gr.HTML


@dataclass(frozen=True)
class FormatEditor:
    """The prompt format column."""

    format: gr.Dropdown
    format_json: gr.Code
    apply: gr.Button
    status: gr.HTML


@dataclass(frozen=True)
class SillyTavernImport:
    """The SillyTavern importer and its report."""

    upload: gr.File
    report: gr.HTML


def _render_presets() -> PresetEditor:
    gr.Markdown("### Sampler presets")
    preset = gr.Dropdown(label="Preset", choices=[], elem_id="parlor-preset")
    where = gr.HTML()
    text = gr.Code(label="Preset (YAML: values that differ from neutral)", language="yaml",
                   elem_id="parlor-preset-yaml", lines=14)  # fmt: skip
    with gr.Row():
        save = gr.Button("Save preset", variant="primary", elem_id="parlor-preset-save")
        delete = gr.Button("Delete preset", variant="stop")
    return PresetEditor(preset, where, text, save, delete, gr.HTML(elem_id="parlor-preset-status"))


def _render_formats() -> FormatEditor:
    gr.Markdown("### Prompt formats (instruct and context templates)")
    fmt = gr.Dropdown(label="Format", choices=[], elem_id="parlor-format")
    text = gr.Code(label="Format (JSON)", language="json", lines=14, elem_id="parlor-format-json")
    apply = gr.Button("Apply format", elem_id="parlor-format-save")
    return FormatEditor(fmt, text, apply, gr.HTML())


def _render_import() -> SillyTavernImport:
    gr.Markdown("### Import from SillyTavern")
    upload = gr.File(
        label="SillyTavern sampler presets, instruct/context/system prompt templates, "
        "reasoning templates or master exports (JSON; several at once)",
        file_types=[".json"], file_count="multiple", elem_id="parlor-preset-import",
    )  # fmt: skip
    return SillyTavernImport(upload, gr.HTML(elem_id="parlor-import-log"))


class PresetsPage:
    """Components and handlers of the Presets & templates page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("presets")

    presets_ui: PresetEditor
    formats_ui: FormatEditor
    st_import: SillyTavernImport
    boundary: Boundary

    def __init__(self, presets: PresetService, uploads: UploadGuard) -> None:
        self.presets = presets
        self.uploads = uploads

    def render(self) -> None:
        """Create the components inside the current tab."""
        with gr.Row(equal_height=False):
            with gr.Column():
                self.presets_ui = _render_presets()
            with gr.Column():
                self.formats_ui = _render_formats()
        self.st_import = _render_import()
        self.boundary = Boundary(self.presets_ui.status)
        self._setup_events()

    @property
    def preset(self) -> gr.Dropdown:
        """The preset picker."""
        return self.presets_ui.preset

    @property
    def format(self) -> gr.Dropdown:
        """The prompt format picker."""
        return self.formats_ui.format

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        p, f, i = self.presets_ui, self.formats_ui, self.st_import
        return [p.preset, p.where, p.preset_yaml, p.status, f.format, f.format_json, f.status,
                i.upload, i.report]  # fmt: skip

    def wire_tab(self, tab: gr.Tab) -> None:
        """Re-read presets and formats whenever ``tab`` is shown."""
        tab.select(self.boundary.guard(self.refresh), [self.preset, self.format],
                   self.outputs(), show_progress="hidden", **self.QUEUE)  # fmt: skip

    def _setup_events(self) -> None:
        guard, p, f, i = self.boundary.guard, self.presets_ui, self.formats_ui, self.st_import
        common: dict[str, Any] = {"outputs": self.outputs(), "show_progress": "hidden",
                                  **self.QUEUE}  # fmt: skip
        pickers = [p.preset, f.format]
        p.preset.input(guard(self.refresh), pickers, **common)
        f.format.input(guard(self.refresh), pickers, **common)
        p.save.click(guard(self.save_preset), [p.preset, p.preset_yaml, f.format], **common)
        p.delete.click(guard(self.delete_preset), pickers, **common)
        f.apply.click(Boundary(f.status).guard(self.apply_format), [f.format_json, p.preset],
                      **common)  # fmt: skip
        i.upload.upload(
            guard(self.import_files), [i.upload, *pickers], self.outputs(),
            show_progress="full", show_progress_on=[i.report], **self.QUEUE,
        )  # fmt: skip

    def show(self, preset: str | None, fmt: str | None, status: str = "") -> Updates:
        """The preset and format pickers and editors."""
        p, f = self.presets_ui, self.formats_ui
        names = self.presets.preset_names()
        preset = preset if preset in names else (names[0] if names else None)
        formats = self.presets.format_names()
        fmt = fmt if fmt in formats else (formats[0] if formats else None)
        updates: Updates = {
            p.preset: gr.update(choices=names, value=preset),
            f.format: gr.update(choices=formats, value=fmt),
            p.status: status_html(status),
        }
        if preset is not None:
            try:
                view = self.presets.preset(preset)
            except ParlorError as exc:
                updates[p.status] = status_html(str(exc), error=True)
            else:
                kind = "your preset" if view.editable else "bundled (saving makes your own copy)"
                updates[p.preset_yaml] = view.yaml
                updates[p.where] = status_html(f"{view.file_name}: {kind}")
        if fmt is not None:
            updates[f.format_json] = self.presets.format_json(fmt)
        return updates

    def refresh(self, preset: str | None, fmt: str | None) -> Updates:
        """Re-read presets and formats (when the tab is shown or a picker changes)."""
        return self.show(preset, fmt)

    def save_preset(self, current: str | None, text: str, fmt: str | None) -> Updates:
        """Validate the YAML and write the preset to the user's presets folder."""
        path = self.presets.save_preset(text, current or "New preset")
        return self.show(path.stem, fmt, f"Saved {path.name}.")

    def delete_preset(self, current: str | None, fmt: str | None) -> Updates:
        """Delete one of the user's presets (bundled ones stay)."""
        if not current:
            return {}
        self.presets.delete_preset(current)
        return self.show(None, fmt, f"Deleted {current}.")

    def apply_format(self, text: str, preset: str | None) -> Updates:
        """Validate the JSON and use it as a prompt format (until Parlor restarts)."""
        fmt = self.presets.apply_format(text)
        updates = self.show(preset, fmt.name)
        updates[self.formats_ui.status] = status_html(
            f"Format {fmt.name} is in use until Parlor restarts."
        )
        return updates

    def import_files(
        self,
        files: list[Any] | None,
        preset: str | None,
        fmt: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented pattern
    ) -> Updates:
        """Import SillyTavern presets and templates; one report line per file."""
        if not files:
            return {}
        results = import_uploads(self.uploads, files, self.presets.import_file, progress)
        for result in results:
            if result.ok and result.kind == "preset":
                preset = self.presets.preset_key(result.name) or preset
            elif result.ok and result.kind == "template":
                fmt = result.name
        updates = self.show(preset, fmt)
        updates[self.st_import.report] = text_list_html(report_lines(results), title="Import")
        updates[self.st_import.upload] = None
        return updates
