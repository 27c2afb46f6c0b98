"""The Characters page: a searchable library with avatars and tags, import, export, editor."""

from __future__ import annotations

import html
import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import gradio as gr

from app.cards.model import CharacterCard
from app.context import AppContext
from app.errors import InputError, ParlorError
from app.storage.types import CharacterSummary
from app.ui.assets import GRID_JS
from app.ui.images import avatar_image, image_to_png
from app.ui.render import status_html, text_list_html
from app.ui.state import Thumbnails, page_queue

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


def matches(summary: CharacterSummary, query: str, tags: list[str]) -> bool:
    """Whether a character passes the library's search box and tag filter."""
    if any(tag not in summary.tags for tag in tags):
        return False
    needle = query.strip().casefold()
    if not needle:
        return True
    return needle in summary.name.casefold() or any(needle in t.casefold() for t in summary.tags)


def _text_box(key: str, label: str, lines: int) -> Any:
    return gr.Textbox(label=label, lines=lines, max_lines=30, elem_id=f"parlor-card-{key}")


class LibraryPage:
    """Components and handlers of the Characters page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("characters")

    def __init__(self, context: AppContext, thumbnails: Thumbnails) -> None:
        self.context = context
        self.thumbnails = thumbnails

    # -- layout --------------------------------------------------------------------------

    def render(self) -> None:
        """Create the components inside the current tab."""
        self.selected = gr.State(None)
        self.avatar_new = gr.State(False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                with gr.Row():
                    self.search = gr.Textbox(
                        label="Search", max_lines=1, elem_id="parlor-lib-search", scale=2
                    )
                    self.tag_filter = gr.Dropdown(
                        label="Tags",
                        multiselect=True,
                        choices=[],
                        elem_id="parlor-lib-tags",
                        scale=2,
                    )
                self.grid = gr.HTML(elem_id="parlor-grid", js_on_load=GRID_JS)
                self.upload = gr.File(
                    label="Import cards (PNG, JSON, CHARX, YAML; drop several at once)",
                    file_count="multiple",
                    file_types=CARD_FILE_TYPES,
                    elem_id="parlor-import",
                )
                self.import_report = gr.HTML(elem_id="parlor-import-report")
            with gr.Column(scale=3):
                self._render_editor()
        self._setup_events()

    def _render_editor(self) -> None:
        self.editor_title = gr.HTML(elem_id="parlor-editor-title")
        with gr.Row():
            self.avatar = gr.Image(
                label="Avatar",
                type="filepath",
                sources=["upload"],
                height=180,
                scale=1,
                elem_id="parlor-avatar",
            )
            with gr.Column(scale=2):
                self.name = gr.Textbox(label="Name", max_lines=1, elem_id="parlor-card-name")
                self.tags = gr.Textbox(label="Tags (comma-separated)", max_lines=1)
                self.short = {
                    key: gr.Textbox(label=label, max_lines=1, elem_id=f"parlor-card-{key}")
                    for key, label in SHORT_FIELDS
                }
        self.texts = {
            key: _text_box(key, label, lines) for key, label, lines in TEXT_FIELDS[:MAIN_FIELDS]
        }
        self.alternates = gr.Textbox(
            label=f"Alternate greetings (separate with a line holding only {GREETING_SEPARATOR})",
            lines=3,
            max_lines=30,
            elem_id="parlor-card-alternates",
        )
        with gr.Accordion("More fields: system prompt, notes, character's note, extensions",
                          open=False, elem_id="parlor-card-more"):  # fmt: skip
            for key, label, lines in TEXT_FIELDS[MAIN_FIELDS:]:
                self.texts[key] = _text_box(key, label, lines)
            self.group_greetings = gr.Textbox(
                label=f"Group-only greetings (separate with {GREETING_SEPARATOR})", lines=2
            )
            self.depth_text = gr.Textbox(label="Character's note (depth prompt)", lines=2)
            with gr.Row():
                self.depth = gr.Number(label="Depth", value=4, precision=0, minimum=0)
                self.depth_role = gr.Dropdown(
                    label="Role", choices=["system", "user", "assistant"], value="system"
                )
                self.talkativeness = gr.Slider(0, 1, value=0.5, step=0.05, label="Talkativeness")
            self.extensions = gr.Code(label="Other extensions (JSON)", language="json")
        with gr.Row():
            self.save = gr.Button("Save", variant="primary", elem_id="parlor-card-save")
            self.new = gr.Button("New character", elem_id="parlor-card-new")
            self.start_chat = gr.Button("Chat with this character", elem_id="parlor-card-chat")
            self.trash = gr.Button("Move to trash", variant="stop", elem_id="parlor-card-trash")
        with gr.Row():
            self.export_format = gr.Radio(
                ["png", "json", "charx"], value="png", label="Export as", scale=1
            )
            self.export = gr.Button("Export", scale=1, elem_id="parlor-card-export")
            self.exported = gr.File(
                label="Exported card", interactive=False, scale=2, elem_id="parlor-exported"
            )
        self.status = gr.HTML(elem_id="parlor-card-status")

    def editor_fields(self) -> list[Any]:
        """The editor's inputs, in the order :meth:`save_card` takes them."""
        return [
            self.name, self.tags, *self.short.values(), *self.texts.values(), self.alternates,
            self.group_greetings, self.depth_text, self.depth, self.depth_role,
            self.talkativeness, self.extensions, self.avatar,
        ]  # fmt: skip

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        return [
            self.selected, self.avatar_new, self.grid, self.tag_filter, self.editor_title,
            self.status, self.import_report, self.upload, self.exported, *self.editor_fields(),
        ]  # fmt: skip

    def _setup_events(self) -> None:
        common: dict[str, Any] = {
            "outputs": self.outputs(), "show_progress": "hidden", **self.QUEUE,
        }  # fmt: skip
        filters = [self.search, self.tag_filter, self.selected]
        for box in (self.search, self.tag_filter):
            box.change(self.filter, filters, [self.grid], show_progress="hidden", **self.QUEUE)
        self.grid.click(self.select, [self.search, self.tag_filter], **common)
        self.upload.upload(self.import_files, [self.upload, self.search, self.tag_filter], **common)
        self.avatar.upload(lambda: True, None, [self.avatar_new], show_progress="hidden")
        self.save.click(
            self.save_card,
            [self.selected, self.avatar_new, *self.editor_fields(), self.search, self.tag_filter],
            **common,
        )
        self.new.click(self.blank, [self.search, self.tag_filter], **common)
        self.trash.click(self.trash_card, [self.selected, self.search, self.tag_filter], **common)
        self.export.click(self.export_card, [self.selected, self.export_format], **common)

    # -- library -------------------------------------------------------------------------

    def grid_html(self, query: str, tags: list[str] | None, selected: int | None) -> str:
        """The character tiles that pass the filters."""
        repo = self.context.stores.characters
        tiles = []
        for summary in repo.list_characters():
            if not matches(summary, query or "", tags or []):
                continue
            thumb = (
                self.thumbnails.get(
                    "character",
                    summary.id,
                    summary.modified_at,
                    lambda cid=summary.id: repo.avatar(cid),  # type: ignore[misc]
                )
                if summary.has_avatar
                else ""
            )
            image = f'<img src="{thumb}" alt="">' if thumb else '<div class="no-avatar"></div>'
            chosen = " selected" if summary.id == selected else ""
            tiles.append(
                f'<div class="card-tile{chosen}" data-character-id="{summary.id}">{image}'
                f'<div class="tile-name">{html.escape(summary.name)}</div>'
                f'<div class="tile-tags">{html.escape(", ".join(summary.tags[:4]))}</div></div>'
            )
        if not tiles:
            return '<div class="chat-empty">No characters match.</div>'
        return f'<div class="card-grid">{"".join(tiles)}</div>'

    def all_tags(self) -> list[str]:
        """Every tag used by a character, sorted."""
        tags = {t for c in self.context.stores.characters.list_characters() for t in c.tags}
        return sorted(tags, key=str.casefold)

    def filter(self, query: str, tags: list[str] | None, selected: int | None) -> str:
        """Re-draw the grid for the search box and tag filter."""
        return self.grid_html(query, tags, selected)

    def refresh(self, selected: int | None, query: str, tags: list[str] | None) -> Updates:
        """Re-read the library (when the tab is shown); the editor shows a character."""
        ids = [c.id for c in self.context.stores.characters.list_characters()]
        chosen = selected if selected in ids else (ids[0] if ids else None)
        if chosen is None:
            return self.show(None, query, tags)
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
        updates: Updates = {
            self.selected: character_id,
            self.grid: self.grid_html(query, tags, character_id),
            self.tag_filter: gr.update(choices=self.all_tags()),
            self.status: status_html(status),
            self.exported: None,
            self.avatar_new: False,
        }
        if character_id is None:
            updates.update(self._fields(CharacterCard.create("New character"), blank=True))
            updates[self.editor_title] = "<h3>New character</h3>"
            return updates
        card = self.context.library.card(character_id)
        updates.update(self._fields(card))
        updates[self.editor_title] = f"<h3>{html.escape(card.name)}</h3>"
        return updates

    def _fields(self, card: CharacterCard, *, blank: bool = False) -> Updates:
        ext = card.extensions
        note = card.depth_prompt
        raw_note = ext.get("depth_prompt") if isinstance(ext.get("depth_prompt"), dict) else {}
        rest = {k: v for k, v in ext.items() if k not in _HANDLED_EXTENSIONS}
        updates: Updates = {
            self.name: "" if blank else card.name,
            self.tags: ", ".join(card.tags),
            self.alternates: join_greetings(card.alternate_greetings),
            self.group_greetings: join_greetings(card.group_only_greetings),
            self.depth_text: note.prompt if note else "",
            self.depth: note.depth if note else int((raw_note or {}).get("depth", 4) or 4),
            self.depth_role: note.role
            if note and note.role in ("system", "user", "assistant")
            else "system",
            self.talkativeness: card.talkativeness,
            self.extensions: json.dumps(rest, indent=2, ensure_ascii=False),
            self.avatar: avatar_image(card.avatar),
        }
        for key, box in self.short.items():
            updates[box] = card.data.get(key) if isinstance(card.data.get(key), str) else ""
        for key, box in self.texts.items():
            updates[box] = card.data.get(key, "")
        return updates

    def blank(self, query: str, tags: list[str] | None) -> Updates:
        """An empty editor for a new character."""
        return self.show(None, query, tags, "Fill in the fields and press Save.")

    # -- changes ---------------------------------------------------------------------------

    def import_files(self, files: list[Any] | None, query: str, tags: list[str] | None) -> Updates:
        """Import every dropped or picked file; one line per file, errors included."""
        lines: list[str] = []
        last: int | None = None
        for item in files or []:
            path = Path(item if isinstance(item, str) else getattr(item, "name", str(item)))
            try:
                character = self.context.library.import_card(path, source_name=path.name)
            except ParlorError as exc:
                lines.append(f"✗ {exc}")
                continue
            last = character.id
            lines.append(f"✓ {path.name}: imported {character.name}")
        updates = (
            self.show(last, query, tags)
            if last is not None
            else {
                self.grid: self.grid_html(query, tags, None),
            }
        )
        updates[self.import_report] = text_list_html(lines, title="Import")
        updates[self.upload] = None
        return updates

    def save_card(self, selected: int | None, avatar_new: bool, *values: Any) -> Updates:
        """Create or update the character from the editor."""
        *fields, query, tags = values
        try:
            card_fields, avatar_path = self._card_fields(fields)
            avatar = image_to_png(avatar_path) if avatar_new and avatar_path else None
            character_id = self._store(selected, card_fields, avatar)
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(character_id, query, tags, "Saved.")

    def _card_fields(self, values: list[Any]) -> tuple[dict[str, Any], Any]:
        name, tags, *rest = values
        short = dict(zip(self.short, rest[: len(self.short)], strict=True))
        rest = rest[len(self.short) :]
        texts = dict(zip(self.texts, rest[: len(self.texts)], strict=True))
        alternates, group, depth_text, depth, role, talk, ext_json, avatar = rest[len(self.texts) :]
        try:
            extensions = json.loads(ext_json) if (ext_json or "").strip() else {}
        except json.JSONDecodeError as exc:
            raise InputError(
                "extensions", f"not valid JSON (line {exc.lineno}: {exc.msg})"
            ) from exc
        if not isinstance(extensions, dict):
            raise InputError("extensions", "must be a JSON object")
        if (depth_text or "").strip():
            extensions["depth_prompt"] = {
                "prompt": depth_text,
                "depth": int(depth or 0),
                "role": role or "system",
            }
        extensions["talkativeness"] = float(talk if talk is not None else 0.5)
        fields: dict[str, Any] = {
            "name": (name or "").strip(),
            **short,
            **texts,
            "tags": split_tags(tags or ""),
            "alternate_greetings": split_greetings(alternates or ""),
            "group_only_greetings": split_greetings(group or ""),
            "extensions": extensions,
        }
        if not fields["nickname"]:
            fields.pop("nickname")
        return fields, avatar

    def _store(self, selected: int | None, fields: dict[str, Any], avatar: bytes | None) -> int:
        repo = self.context.stores.characters
        if selected is None:
            card = CharacterCard.create(fields.pop("name"), avatar=avatar, **fields)
            created = repo.create(card.name, card.to_document(), avatar=card.avatar, tags=card.tags)
            return created.id
        card = self.context.library.card(selected).updated(**fields)
        repo.update(selected, name=card.name, card=card.to_document(), tags=card.tags)
        if avatar is not None:
            repo.set_avatar(selected, avatar)
        return selected

    def trash_card(self, selected: int | None, query: str, tags: list[str] | None) -> Updates:
        """Hide the character (its chats stay)."""
        if selected is None:
            return {}
        try:
            character = self.context.stores.characters.trash(selected)
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(None, query, tags, f"{character.name} moved to the trash.")

    def export_card(self, selected: int | None, fmt: str) -> Updates:
        """Write the character as a card file to download."""
        if selected is None or fmt not in ("png", "json", "charx"):
            return {self.status: status_html("Pick a character first.", error=True)}
        try:
            data = self.context.library.export_card(selected, fmt)  # type: ignore[arg-type]
            name = self.context.stores.characters.get(selected).name
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        safe = re.sub(r"[^\w .-]", "_", name).strip(" .") or "character"
        path = Path(tempfile.mkdtemp(prefix="parlor-export-")) / f"{safe}.{fmt}"
        path.write_bytes(data)
        return {self.exported: str(path), self.status: status_html(f"Exported {path.name}.")}
