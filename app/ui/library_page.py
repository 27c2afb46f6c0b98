"""The Characters page: a searchable library with avatars and tags, import, export, editor.

The page holds the character service only; every change goes through it.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import gradio as gr

from app.cards.model import CharacterCard
from app.chat.characters import CharacterFilter, CharacterService
from app.errors import InputError, ParlorError
from app.storage.types import CharacterSummary
from app.ui.assets import GRID_JS
from app.ui.avatar_cache import AvatarCache
from app.ui.boundary import Boundary
from app.ui.images import image_to_png
from app.ui.render import status_html, text_list_html
from app.ui.state import page_queue
from app.ui.uploads import UploadGuard, import_uploads, report_lines

Updates = dict[Any, Any]
#: A line holding only this separates greetings in one text box.
GREETING_SEPARATOR: Final = "<NEXT>"
CARD_FILE_TYPES: Final = [".png", ".json", ".charx", ".yaml", ".yml"]
#: (card field, label, lines) of the plain text fields, in the editor's order.
TEXT_FIELDS: Final = (
    ("description", "Description", 6),
    ("personality", "Personality", 3),
    ("scenario", "Scenario", 3),
    ("first_mes", "First message (greeting)", 5),
    ("mes_example", "Example dialogue", 5),
    ("system_prompt", "System prompt", 3),
    ("post_history_instructions", "Post-history instructions", 3),
    ("creator_notes", "Creator's notes", 3),
)
SHORT_FIELDS: Final = (
    ("nickname", "Nickname"),
    ("creator", "Creator"),
    ("character_version", "Version"),
)
#: TEXT_FIELDS[:MAIN_FIELDS] are always shown; the rest sit in "More fields".
MAIN_FIELDS: Final = 5
_HANDLED_EXTENSIONS: Final = ("depth_prompt", "talkativeness")
_ROLES: Final = ("system", "user", "assistant")


def split_greetings(text: str) -> list[str]:
    """Greetings separated by lines holding only ``<NEXT>``; empty ones dropped."""
    parts = re.split(rf"^[ \t]*{re.escape(GREETING_SEPARATOR)}[ \t]*$", text, flags=re.MULTILINE)
    return [p.strip("\n") for p in parts if p.strip()]


def join_greetings(greetings: list[str]) -> str:
    """The inverse of :func:`split_greetings`."""
    return f"\n{GREETING_SEPARATOR}\n".join(greetings)


def split_tags(text: str) -> list[str]:
    """Comma-separated tags, trimmed, duplicates dropped."""
    seen: dict[str, None] = {}
    for tag in text.split(","):
        if tag.strip():
            seen.setdefault(tag.strip(), None)
    return list(seen)


def library_filter(query: str | None, tags: list[str] | None) -> CharacterFilter:
    """The search box and tag filter as the service's filter."""
    return CharacterFilter(query or "", tuple(tags or ()))


def upload_label(limit_bytes: int) -> str:
    """The import box's label, stating the size limit up front."""
    return (
        f"Import cards (PNG, JSON, CHARX, YAML; up to {limit_bytes >> 20} MB each; "
        "drop several at once)"
    )


def _text_box(key: str, label: str, lines: int) -> gr.Textbox:
    return gr.Textbox(label=label, lines=lines, max_lines=30, elem_id=f"parlor-card-{key}")


@dataclass(frozen=True)
class LibraryList:
    """The left column: search, tag filter, the grid of cards and the importer."""

    search: gr.Textbox
    tag_filter: gr.Dropdown
    grid: gr.HTML
    upload: gr.File
    import_report: gr.HTML


@dataclass(frozen=True)
class CardEditor:
    """Every editable field of a card."""

    title: gr.HTML
    avatar: gr.Image
    name: gr.Textbox
    tags: gr.Textbox
    short: dict[str, gr.Textbox]
    texts: dict[str, gr.Textbox]
    alternates: gr.Textbox
    group_greetings: gr.Textbox
    depth_text: gr.Textbox
    depth: gr.Number
    depth_role: gr.Dropdown
    talkativeness: gr.Slider
    extensions: gr.Code

    def fields(self) -> list[Any]:
        """The inputs of a save, in the order :meth:`LibraryPage.save_card` takes them."""
        return [
            self.name, self.tags, *self.short.values(), *self.texts.values(), self.alternates,
            self.group_greetings, self.depth_text, self.depth, self.depth_role,
            self.talkativeness, self.extensions, self.avatar,
        ]  # fmt: skip


@dataclass(frozen=True)
class CardActions:
    """The editor's buttons, the export and the status line."""

    save: gr.Button
    new: gr.Button
    start_chat: gr.Button
    trash: gr.Button
    export_format: gr.Radio
    export: gr.Button
    exported: gr.File
    status: gr.HTML


def _render_list(limit_bytes: int) -> LibraryList:
    with gr.Row():
        search = gr.Textbox(label="Search", max_lines=1, elem_id="parlor-lib-search", scale=2)
        tag_filter = gr.Dropdown(
            label="Tags", multiselect=True, choices=[], elem_id="parlor-lib-tags", scale=2
        )
    grid = gr.HTML(elem_id="parlor-grid", js_on_load=GRID_JS)
    upload = gr.File(
        label=upload_label(limit_bytes), file_count="multiple", file_types=CARD_FILE_TYPES,
        elem_id="parlor-import",
    )  # fmt: skip
    return LibraryList(search, tag_filter, grid, upload, gr.HTML(elem_id="parlor-import-report"))


def _render_editor() -> CardEditor:
    title = gr.HTML(elem_id="parlor-editor-title")
    with gr.Row():
        avatar = gr.Image(
            label="Avatar", type="filepath", sources=["upload"], height=180, scale=1,
            elem_id="parlor-avatar",
        )  # fmt: skip
        with gr.Column(scale=2):
            name = gr.Textbox(label="Name", max_lines=1, elem_id="parlor-card-name")
            tags = gr.Textbox(label="Tags (comma-separated)", max_lines=1)
            short = {
                key: gr.Textbox(label=label, max_lines=1, elem_id=f"parlor-card-{key}")
                for key, label in SHORT_FIELDS
            }
    texts = {key: _text_box(key, label, lines) for key, label, lines in TEXT_FIELDS[:MAIN_FIELDS]}
    alternates = gr.Textbox(
        label=f"Alternate greetings (separate with a line holding only {GREETING_SEPARATOR})",
        lines=3, max_lines=30, elem_id="parlor-card-alternates",
    )  # fmt: skip
    with gr.Accordion("More fields: system prompt, notes, character's note, extensions",
                      open=False, elem_id="parlor-card-more"):  # fmt: skip
        for key, label, lines in TEXT_FIELDS[MAIN_FIELDS:]:
            texts[key] = _text_box(key, label, lines)
        group = gr.Textbox(
            label=f"Group-only greetings (separate with {GREETING_SEPARATOR})", lines=2
        )
        depth_text = gr.Textbox(label="Character's note (depth prompt)", lines=2)
        with gr.Row():
            depth = gr.Number(label="Depth", value=4, precision=0, minimum=0)
            role = gr.Dropdown(label="Role", choices=list(_ROLES), value="system")
            talk = gr.Slider(0, 1, value=0.5, step=0.05, label="Talkativeness")
        extensions = gr.Code(label="Other extensions (JSON)", language="json")
    return CardEditor(title, avatar, name, tags, short, texts, alternates, group, depth_text,
                      depth, role, talk, extensions)  # fmt: skip


def _render_actions() -> CardActions:
    with gr.Row():
        save = gr.Button("Save", variant="primary", elem_id="parlor-card-save")
        new = gr.Button("New character", elem_id="parlor-card-new")
        start_chat = gr.Button("Chat with this character", elem_id="parlor-card-chat")
        trash = gr.Button("Move to trash", variant="stop", elem_id="parlor-card-trash")
    with gr.Row():
        export_format = gr.Radio(["png", "json", "charx"], value="png", label="Export as", scale=1)
        export = gr.Button("Export", scale=1, elem_id="parlor-card-export")
        exported = gr.File(
            label="Exported card", interactive=False, scale=2, elem_id="parlor-exported"
        )
    status = gr.HTML(elem_id="parlor-card-status")
    return CardActions(save, new, start_chat, trash, export_format, export, exported, status)


def card_fields(editor: CardEditor, values: list[Any]) -> tuple[dict[str, Any], Any]:
    """The editor's values (in :meth:`CardEditor.fields` order) as card fields and avatar."""
    name, tags, *rest = values
    short = dict(zip(editor.short, rest[: len(editor.short)], strict=True))
    rest = rest[len(editor.short) :]
    texts = dict(zip(editor.texts, rest[: len(editor.texts)], strict=True))
    alternates, group, depth_text, depth, role, talk, ext_json, avatar = rest[len(editor.texts) :]
    extensions = _extensions(ext_json)
    if (depth_text or "").strip():
        extensions["depth_prompt"] = {
            "prompt": depth_text, "depth": int(depth or 0), "role": role or "system",
        }  # fmt: skip
    extensions["talkativeness"] = float(talk if talk is not None else 0.5)
    fields: dict[str, Any] = {
        "name": (name or "").strip(), **short, **texts, "tags": split_tags(tags or ""),
        "alternate_greetings": split_greetings(alternates or ""),
        "group_only_greetings": split_greetings(group or ""), "extensions": extensions,
    }  # fmt: skip
    if not fields["nickname"]:
        fields.pop("nickname")
    return fields, avatar


def _extensions(text: str | None) -> dict[str, Any]:
    try:
        extensions = json.loads(text) if text and text.strip() else {}
    except json.JSONDecodeError as exc:
        raise InputError("extensions", f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(extensions, dict):
        raise InputError("extensions", "must be a JSON object")
    return extensions


def fill_js(values: list[Any]) -> str:
    """A browser-side event function that sets its outputs to ``values`` at once."""
    return f"() => {json.dumps(values)}"


def editor_values(editor: CardEditor, card: CharacterCard, *, blank: bool = False) -> Updates:
    """The editor's fields filled from ``card`` (the avatar not included)."""
    ext = card.extensions
    note = card.depth_prompt
    raw_note = ext.get("depth_prompt") if isinstance(ext.get("depth_prompt"), dict) else {}
    updates: Updates = {
        editor.name: "" if blank else card.name,
        editor.tags: ", ".join(card.tags),
        editor.alternates: join_greetings(card.alternate_greetings),
        editor.group_greetings: join_greetings(card.group_only_greetings),
        editor.depth_text: note.prompt if note else "",
        editor.depth: note.depth if note else int((raw_note or {}).get("depth", 4) or 4),
        editor.depth_role: note.role if note and note.role in _ROLES else "system",
        editor.talkativeness: card.talkativeness,
        editor.extensions: json.dumps(
            {k: v for k, v in ext.items() if k not in _HANDLED_EXTENSIONS},
            indent=2, ensure_ascii=False,
        ),
    }  # fmt: skip
    for key, box in editor.short.items():
        updates[box] = card.data.get(key) if isinstance(card.data.get(key), str) else ""
    for key, box in editor.texts.items():
        updates[box] = card.data.get(key, "")
    return updates


class LibraryPage:
    """Components and handlers of the Characters page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("characters")

    listing: LibraryList
    editor: CardEditor
    actions: CardActions
    boundary: Boundary

    def __init__(
        self, characters: CharacterService, avatars: AvatarCache, uploads: UploadGuard
    ) -> None:
        self.characters = characters
        self.avatars = avatars
        self.uploads = uploads

    # -- layout --------------------------------------------------------------------------

    def render(self) -> None:
        """Create the components inside the current tab."""
        self.selected = gr.State(None)
        self.avatar_new = gr.State(False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                self.listing = _render_list(self.characters.max_import_bytes)
            with gr.Column(scale=3):
                self.editor = _render_editor()
                self.actions = _render_actions()
        self.boundary = Boundary(self.actions.status)
        self._setup_events()

    @property
    def start_chat(self) -> gr.Button:
        """The "Chat with this character" button (wired by the app to the Chat page)."""
        return self.actions.start_chat

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        listing, actions = self.listing, self.actions
        return [
            self.selected, self.avatar_new, listing.grid, listing.tag_filter, self.editor.title,
            actions.status, listing.import_report, listing.upload, actions.exported,
            *self.editor.fields(),
        ]  # fmt: skip

    def wire_tab(self, tab: gr.Tab) -> None:
        """Re-read the library whenever ``tab`` is shown."""
        tab.select(
            self.boundary.guard(self.refresh),
            [self.selected, self.listing.search, self.listing.tag_filter], self.outputs(),
            show_progress="hidden", **self.QUEUE,
        )  # fmt: skip

    def _setup_events(self) -> None:
        guard, listing, actions = self.boundary.guard, self.listing, self.actions
        common: dict[str, Any] = {"outputs": self.outputs(), "show_progress": "hidden",
                                  **self.QUEUE}  # fmt: skip
        filters = [listing.search, listing.tag_filter]
        redraw: dict[str, Any] = {"show_progress": "hidden", **self.QUEUE}
        grid_outputs = [listing.grid, actions.status]
        listing.search.change(guard(self.filter), [*filters, self.selected], grid_outputs, **redraw)
        listing.tag_filter.change(
            guard(self.filter), [*filters, self.selected], grid_outputs, **redraw
        )
        listing.grid.click(guard(self.select), filters, **common)
        listing.upload.upload(
            guard(self.import_files), [listing.upload, *filters], self.outputs(),
            show_progress="full", show_progress_on=[listing.import_report], **self.QUEUE,
        )  # fmt: skip
        self.editor.avatar.upload(lambda: True, None, [self.avatar_new], show_progress="hidden")
        actions.save.click(
            guard(self.save_card),
            [self.selected, self.avatar_new, *self.editor.fields(), *filters], **common,
        )  # fmt: skip
        # The fields are cleared in the browser at once, so a late answer from the server
        # cannot wipe what the user starts typing; the server only forgets the selection.
        blank_fields = [*self.editor.fields(), self.editor.title]
        actions.new.click(None, None, blank_fields, js=fill_js(self._blank_list()),
                          show_progress="hidden")  # fmt: skip
        actions.new.click(guard(self.blank), filters, self._selection_outputs(),
                          show_progress="hidden", **self.QUEUE)  # fmt: skip
        actions.trash.click(guard(self.trash_card), [self.selected, *filters], **common)
        actions.export.click(guard(self.export_card), [self.selected, actions.export_format],
                             **common)  # fmt: skip

    # -- library -------------------------------------------------------------------------

    def grid_html(self, query: str, tags: list[str] | None, selected: int | None) -> str:
        """The character tiles that pass the filters."""
        tiles = [
            self._tile(summary, summary.id == selected)
            for summary in self.characters.summaries(library_filter(query, tags))
        ]
        if not tiles:
            return '<div class="chat-empty">No characters match.</div>'
        return f'<div class="card-grid">{"".join(tiles)}</div>'

    def _tile(self, summary: CharacterSummary, chosen: bool) -> str:
        thumb = self._thumbnail(summary) if summary.has_avatar else ""
        image = f'<img src="{thumb}" alt="">' if thumb else '<div class="no-avatar"></div>'
        return (
            f'<div class="card-tile{" selected" if chosen else ""}" '
            f'data-character-id="{summary.id}">{image}'
            f'<div class="tile-name">{html.escape(summary.name)}</div>'
            f'<div class="tile-tags">{html.escape(", ".join(summary.tags[:4]))}</div></div>'
        )

    def _thumbnail(self, summary: CharacterSummary) -> str:
        """The tile's thumbnail (made from the cached preview when there is one)."""
        return self.avatars.get(
            "character", summary.id, summary.modified_at,
            lambda: self.characters.avatar(summary.id),
        )  # fmt: skip

    def filter(self, query: str, tags: list[str] | None, selected: int | None) -> Updates:
        """Re-draw the grid for the search box and tag filter."""
        return {self.listing.grid: self.grid_html(query, tags, selected)}

    def refresh(self, selected: int | None, query: str, tags: list[str] | None) -> Updates:
        """Re-read the library (when the tab is shown); the editor shows a character."""
        ids = [c.id for c in self.characters.summaries()]
        chosen = selected if selected in ids else (ids[0] if ids else None)
        return self.show(chosen, query, tags)

    def select(self, query: str, tags: list[str] | None, evt: gr.EventData) -> Updates:
        """Load the clicked character into the editor."""
        data = getattr(evt, "_data", None)
        raw = data.get("character_id") if isinstance(data, dict) else None
        if not isinstance(raw, str | int) or not str(raw).isdigit():
            return {}
        return self.show(int(raw), query, tags)

    def show(
        self, character_id: int | None, query: str, tags: list[str] | None, status: str = ""
    ) -> Updates:
        """The editor filled with a character (or blank for a new one)."""
        editor = self.editor
        updates: Updates = {
            self.selected: character_id,
            self.listing.grid: self.grid_html(query, tags, character_id),
            self.listing.tag_filter: gr.update(choices=self.characters.tags()),
            self.actions.status: status_html(status),
            self.actions.exported: None,
            self.avatar_new: False,
        }
        if character_id is None:
            updates.update(self.blank_values())
            return updates
        card = self.characters.card(character_id)
        stamp = self.characters.summary(character_id).modified_at
        updates.update(editor_values(editor, card))
        updates[editor.avatar] = self.avatars.preview(
            "character", character_id, stamp, lambda: card.avatar
        )
        updates[editor.title] = f"<h3>{html.escape(card.name)}</h3>"
        return updates

    def blank_values(self) -> Updates:
        """The editor's fields (and title) for a new character."""
        editor = self.editor
        updates = editor_values(editor, CharacterCard.create("New character"), blank=True)
        updates[editor.avatar] = None
        updates[editor.title] = "<h3>New character</h3>"
        return updates

    def _blank_list(self) -> list[Any]:
        blank = self.blank_values()
        return [blank[box] for box in [*self.editor.fields(), self.editor.title]]

    def _selection_outputs(self) -> list[Any]:
        listing, actions = self.listing, self.actions
        return [self.selected, self.avatar_new, listing.grid, listing.tag_filter, actions.status,
                actions.exported]  # fmt: skip

    def blank(self, query: str, tags: list[str] | None) -> Updates:
        """Forget the selection for a new character (the browser blanks the fields)."""
        updates = self.show(None, query, tags, "Fill in the fields and press Save.")
        kept = self._selection_outputs()
        return {box: value for box, value in updates.items() if box in kept}

    # -- changes ---------------------------------------------------------------------------

    def import_files(
        self,
        files: list[Any] | None,
        query: str,
        tags: list[str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented pattern
    ) -> Updates:
        """Import every dropped or picked file; one line per file, errors included.

        The last card imported (or found already there) is opened in the editor.
        """
        results = import_uploads(self.uploads, files, self.characters.import_card, progress)
        ids = [r.item_id for r in results if r.ok and r.item_id is not None]
        last = ids[-1] if ids else None
        updates = (
            self.show(last, query, tags)
            if last is not None
            else {self.listing.grid: self.grid_html(query, tags, None)}
        )
        updates[self.listing.import_report] = text_list_html(report_lines(results), title="Import")
        updates[self.listing.upload] = None
        return updates

    def save_card(self, selected: int | None, avatar_new: bool, *values: Any) -> Updates:
        """Create or update the character from the editor (one transaction)."""
        *fields, query, tags = values
        card_values, avatar_path = card_fields(self.editor, fields)
        avatar = (
            image_to_png(self.uploads.path(avatar_path)) if avatar_new and avatar_path else None
        )
        if selected is None:
            character = self.characters.create(card_values, avatar)
        else:
            character = self.characters.update(selected, card_values, avatar)
        return self.show(character.id, query, tags, "Saved.")

    def trash_card(self, selected: int | None, query: str, tags: list[str] | None) -> Updates:
        """Hide the character (its chats stay)."""
        if selected is None:
            return {}
        character = self.characters.trash(selected)
        return self.show(None, query, tags, f"{character.name} moved to the trash.")

    def export_card(self, selected: int | None, fmt: str) -> Updates:
        """Write the character as a card file to download."""
        if selected is None:
            raise ParlorError("Pick a character first.")
        exported = self.characters.export(selected, fmt)
        path = Path(tempfile.mkdtemp(prefix="parlor-export-")) / exported.file_name
        path.write_bytes(exported.data)
        return {
            self.actions.exported: str(path),
            self.actions.status: status_html(f"Exported {path.name}."),
        }
