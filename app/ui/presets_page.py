"""The Presets & templates page: sampler presets (YAML), prompt formats, SillyTavern import."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import gradio as gr
import yaml
from pydantic import ValidationError

from app.context import AppContext
from app.errors import ParlorError, PresetError, TemplateError
from app.presets.library import dump_preset_yaml
from app.presets.model import Preset, describe_validation_error
from app.presets.sillytavern import import_sillytavern
from app.prompt.formats import PromptFormat
from app.prompt.st_import import import_st_file
from app.ui.render import status_html, text_list_html
from app.ui.state import page_queue

Updates = dict[Any, Any]


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


class PresetsPage:
    """Components and handlers of the Presets & templates page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("presets")

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def render(self) -> None:
        """Create the components inside the current tab."""
        with gr.Row(equal_height=False):
            with gr.Column():
                gr.Markdown("### Sampler presets")
                self.preset = gr.Dropdown(label="Preset", choices=[], elem_id="parlor-preset")
                self.where = gr.HTML()
                self.preset_yaml = gr.Code(
                    label="Preset (YAML: values that differ from neutral)",
                    language="yaml",
                    elem_id="parlor-preset-yaml",
                    lines=14,
                )
                with gr.Row():
                    self.save = gr.Button(
                        "Save preset", variant="primary", elem_id="parlor-preset-save"
                    )
                    self.delete = gr.Button("Delete preset", variant="stop")
                self.status = gr.HTML(elem_id="parlor-preset-status")
            with gr.Column():
                gr.Markdown("### Prompt formats (instruct and context templates)")
                self.format = gr.Dropdown(label="Format", choices=[], elem_id="parlor-format")
                self.format_json = gr.Code(
                    label="Format (JSON)", language="json", lines=14, elem_id="parlor-format-json"
                )
                self.format_save = gr.Button("Apply format", elem_id="parlor-format-save")
                self.format_status = gr.HTML()
        gr.Markdown("### Import from SillyTavern")
        self.upload = gr.File(
            label="A SillyTavern sampler preset, instruct/context/system prompt template, "
            "or master export (JSON)",
            file_types=[".json"],
            elem_id="parlor-preset-import",
        )
        self.report = gr.HTML(elem_id="parlor-import-log")
        self._setup_events()

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        return [
            self.preset, self.where, self.preset_yaml, self.status, self.format,
            self.format_json, self.format_status, self.upload, self.report,
        ]  # fmt: skip

    def _setup_events(self) -> None:
        common: dict[str, Any] = {
            "outputs": self.outputs(),
            "show_progress": "hidden",
            **self.QUEUE,
        }
        self.preset.input(
            lambda name, fmt: self.show(name, fmt), [self.preset, self.format], **common
        )
        self.format.input(
            lambda name, fmt: self.show(name, fmt), [self.preset, self.format], **common
        )
        self.save.click(self.save_preset, [self.preset, self.preset_yaml, self.format], **common)
        self.delete.click(self.delete_preset, [self.preset, self.format], **common)
        self.format_save.click(self.apply_format, [self.format_json, self.preset], **common)
        self.upload.upload(self.import_file, [self.upload, self.preset, self.format], **common)

    def show(
        self, preset: str | None, fmt: str | None, status: str = "", *, failed: bool = False
    ) -> Updates:
        """The preset and format pickers and editors."""
        library = self.context.presets
        names = library.names()
        preset = preset if preset in names else (names[0] if names else None)
        formats = self.context.formats.names()
        fmt = fmt if fmt in formats else (formats[0] if formats else None)
        updates: Updates = {
            self.preset: gr.update(choices=names, value=preset),
            self.format: gr.update(choices=formats, value=fmt),
            self.status: status_html(status, error=failed),
        }
        try:
            if preset is not None:
                path = library.path_of(preset)
                updates[self.preset_yaml] = dump_preset_yaml(library.load(preset))
                editable = path.parent.resolve() == library.writable_dir.resolve()
                kind = "your preset" if editable else "bundled (saving makes your own copy)"
                updates[self.where] = status_html(f"{path.name}: {kind}")
        except ParlorError as exc:
            updates[self.status] = status_html(str(exc), error=True)
        if fmt is not None:
            dumped = self.context.formats.get(fmt).model_dump(mode="json")
            updates[self.format_json] = json.dumps(dumped, indent=2, ensure_ascii=False)
        return updates

    def refresh(self, preset: str | None, fmt: str | None) -> Updates:
        """Re-read presets and formats (when the tab is shown)."""
        return self.show(preset, fmt)

    def save_preset(self, current: str | None, text: str, fmt: str | None) -> Updates:
        """Validate the YAML and write the preset to the user's presets folder."""
        try:
            preset = preset_from_yaml(text, current or "New preset")
            path = self.context.presets.save(preset)
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(path.stem, fmt, f"Saved {path.name}.")

    def delete_preset(self, current: str | None, fmt: str | None) -> Updates:
        """Delete one of the user's presets (bundled ones stay)."""
        if not current:
            return {}
        try:
            self.context.presets.delete(current)
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(None, fmt, f"Deleted {current}.")

    def apply_format(self, text: str, preset: str | None) -> Updates:
        """Validate the JSON and use it as a prompt format (until Parlor restarts)."""
        try:
            fmt = format_from_json(text)
        except ParlorError as exc:
            return {self.format_status: status_html(str(exc), error=True)}
        self.context.formats.add(fmt)
        updates = self.show(preset, fmt.name)
        updates[self.format_status] = status_html(
            f"Format {fmt.name} is in use until Parlor restarts."
        )
        return updates

    def import_file(self, upload: Any, preset: str | None, fmt: str | None) -> Updates:
        """Import a SillyTavern file as a preset, a prompt format, or both; show the report."""
        if not upload:
            return {}
        path = Path(upload if isinstance(upload, str) else getattr(upload, "name", str(upload)))
        lines: list[str] = []
        errors: list[str] = []
        try:
            imported = import_st_file(path)
            made = imported.to_format(imported.name or path.stem)
            self.context.formats.add(made)
            fmt = made.name
            parts = [
                k
                for k, v in (
                    ("instruct", imported.instruct),
                    ("context", imported.context),
                    ("system prompt", imported.sysprompt),
                )
                if v is not None
            ]
            lines.append(f"Prompt format {made.name} ({', '.join(parts)}) added for this session.")
        except TemplateError as exc:
            errors.append(str(exc))
        try:
            sampler, report = import_sillytavern(path)
            saved = self.context.presets.save(sampler)
            preset = saved.stem
            lines.append(f"Sampler preset {sampler.name} saved as {saved.name}.")
            lines += [f"  {line}" for line in report.lines()] or ["  Every setting was honoured."]
        except PresetError as exc:
            errors.append(str(exc))
        if not lines:
            lines = [f"✗ {error}" for error in errors]
        updates = self.show(preset, fmt)
        updates[self.report] = text_list_html(lines, title=f"Import of {path.name}")
        updates[self.upload] = None
        return updates
