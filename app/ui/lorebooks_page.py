"""The Lorebooks page: World Info books (standalone or a card's own) and their entries.

The page holds the lorebook service only; every change goes through it.

Picking an entry fills the editor in the browser, from the book's entries sent along
with the book (:attr:`EntryEditor.loaded`), without a server round trip.  A server
answer to the pick used to arrive late (Gradio's dropdown even sends the pick twice) and
overwrite what the user had typed meanwhile, so "Save entry" stored the old text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import gradio as gr

from app.chat.lorebooks import NEW_ENTRY, EntryEdit, LorebookService
from app.errors import InputError, ParlorError
from app.storage.types import JSONDict, Lorebook, LorebookEntry
from app.ui.boundary import Boundary
from app.ui.library_page import split_tags
from app.ui.render import status_html
from app.ui.state import page_queue
from app.ui.uploads import UploadGuard, import_uploads, report_lines

Updates = dict[Any, Any]
POSITIONS: Final = [
    ("Before the character", 0),
    ("After the character", 1),
    ("Top of the author's note", 2),
    ("Bottom of the author's note", 3),
    ("In the chat at depth", 4),
    ("Before the examples", 5),
    ("After the examples", 6),
]
LOGIC: Final = [("AND ANY", 0), ("NOT ALL", 1), ("NOT ANY", 2), ("AND ALL", 3)]
TABLE_HEADERS: Final = ["#", "Keys", "Comment", "Content", "Enabled", "Constant"]
#: The editor's fields, in :meth:`EntryEditor.fields` order.
EDITOR_KEYS: Final = (
    "keys", "secondary", "comment", "content", "constant", "enabled", "logic", "order",
    "position", "depth", "probability",
)  # fmt: skip
#: Fills the editor (and clears the status) from the entries loaded with the book.
PICK_JS: Final = """
(loaded, entryId, ...current) => {
  const values = loaded && loaded[String(entryId)];
  return values ? [...values, ""] : [...current.slice(0, -1), ""];
}
"""


def entry_label(index: int, data: JSONDict) -> str:
    """How an entry is named in the entry picker."""
    keys = ", ".join(str(k) for k in data.get("key") or [])
    title = str(data.get("comment") or "") or keys or "(no keys)"
    return f"{index + 1}. {title[:60]}"


def entry_row(index: int, data: JSONDict) -> list[Any]:
    """One row of the entries table."""
    content = str(data.get("content") or "")
    return [
        index + 1,
        ", ".join(str(k) for k in data.get("key") or []),
        str(data.get("comment") or ""),
        content[:80] + ("…" if len(content) > 80 else ""),
        not bool(data.get("disable")),
        bool(data.get("constant")),
    ]


def editor_values(data: JSONDict) -> list[Any]:
    """An entry's values for the editor, in :data:`EDITOR_KEYS` order."""
    return [
        ", ".join(str(k) for k in data.get("key") or []),
        ", ".join(str(k) for k in data.get("keysecondary") or []),
        str(data.get("comment") or ""),
        str(data.get("content") or ""),
        bool(data.get("constant")),
        not bool(data.get("disable")),
        _choice(data.get("selectiveLogic"), LOGIC),
        _number(data.get("order"), 100),
        _choice(data.get("position"), POSITIONS),
        _number(data.get("depth"), 4),
        _number(data.get("probability"), 100),
    ]


def entry_edit(values: Mapping[str, Any]) -> EntryEdit:
    """The editor's values (by :data:`EDITOR_KEYS`) as an edit; InputError for bad numbers."""
    return EntryEdit(
        keys=tuple(split_tags(values["keys"] or "")),
        secondary=tuple(split_tags(values["secondary"] or "")),
        comment=values["comment"] or "", content=values["content"] or "",
        constant=bool(values["constant"]), enabled=bool(values["enabled"]),
        logic=_whole(values["logic"], 0, "secondary key logic"),
        order=_whole(values["order"], 100, "order"),
        position=_whole(values["position"], 0, "position"),
        depth=_whole(values["depth"], 4, "depth"),
        probability=_whole(values["probability"], 100, "probability"),
    )  # fmt: skip


@dataclass(frozen=True)
class BookPicker:
    """The book picker, the importer and the entries table."""

    book: gr.Dropdown
    upload: gr.File
    table: gr.Dataframe


@dataclass(frozen=True)
class EntryEditor:
    """The entry picker and the fields of one entry."""

    entry: gr.Dropdown
    #: The book's entries as editor values, by entry id (hidden; read by the pick in JS).
    loaded: gr.JSON
    keys: gr.Textbox
    secondary: gr.Textbox
    comment: gr.Textbox
    content: gr.Textbox
    enabled: gr.Checkbox
    constant: gr.Checkbox
    logic: gr.Dropdown
    position: gr.Dropdown
    order: gr.Number
    depth: gr.Number
    probability: gr.Number

    def fields(self) -> list[Any]:
        """The editor's fields, in :data:`EDITOR_KEYS` order."""
        return [
            self.keys, self.secondary, self.comment, self.content, self.constant, self.enabled,
            self.logic, self.order, self.position, self.depth, self.probability,
        ]  # fmt: skip


@dataclass(frozen=True)
class EntryActions:
    """The entry buttons and the status line."""

    save: gr.Button
    add: gr.Button
    delete: gr.Button
    status: gr.HTML


def _render_picker() -> BookPicker:
    with gr.Row():
        book = gr.Dropdown(label="Lorebook", choices=[], elem_id="parlor-book", scale=3)
        upload = gr.File(label="Import World Info (JSON)", file_types=[".json"], scale=2,
                         elem_id="parlor-wi-import")  # fmt: skip
    table = gr.Dataframe(
        headers=TABLE_HEADERS, interactive=False, elem_id="parlor-entries", wrap=True
    )
    return BookPicker(book, upload, table)


def _render_editor() -> EntryEditor:
    entry = gr.Dropdown(label="Entry", choices=[], elem_id="parlor-entry")
    loaded = gr.JSON(value={}, visible=False)
    with gr.Row():
        keys = gr.Textbox(label="Keys (comma-separated)", elem_id="parlor-entry-keys")
        secondary = gr.Textbox(label="Secondary keys")
        comment = gr.Textbox(label="Title / comment", elem_id="parlor-entry-comment")
    content = gr.Textbox(label="Content", lines=5, max_lines=30, elem_id="parlor-entry-content")
    with gr.Row():
        enabled = gr.Checkbox(label="Enabled", value=True)
        constant = gr.Checkbox(label="Constant (always in)")
        logic = gr.Dropdown(label="Secondary key logic", choices=LOGIC, value=0)
        position = gr.Dropdown(label="Position", choices=POSITIONS, value=0)
    with gr.Row():
        order = gr.Number(label="Order", value=100, precision=0)
        depth = gr.Number(label="Depth", value=4, precision=0, minimum=0)
        probability = gr.Number(label="Probability %", value=100, precision=0)
    return EntryEditor(entry, loaded, keys, secondary, comment, content, enabled, constant,
                       logic, position, order, depth, probability)  # fmt: skip


def _render_actions() -> EntryActions:
    with gr.Row():
        save = gr.Button("Save entry", variant="primary", elem_id="parlor-entry-save")
        add = gr.Button("Add entry", elem_id="parlor-entry-add")
        delete = gr.Button("Delete entry", variant="stop", elem_id="parlor-entry-del")
    return EntryActions(save, add, delete, gr.HTML(elem_id="parlor-book-status"))


class LorebooksPage:
    """Components and handlers of the Lorebooks page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("lorebooks")

    picker: BookPicker
    editor: EntryEditor
    actions: EntryActions
    boundary: Boundary

    def __init__(self, lorebooks: LorebookService, uploads: UploadGuard) -> None:
        self.lorebooks = lorebooks
        self.uploads = uploads

    def render(self) -> None:
        """Create the components inside the current tab."""
        self.picker = _render_picker()
        self.editor = _render_editor()
        self.actions = _render_actions()
        self.boundary = Boundary(self.actions.status)
        self._setup_events()

    @property
    def book(self) -> gr.Dropdown:
        """The book picker (its value is the tab refresh's input)."""
        return self.picker.book

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        p, e = self.picker, self.editor
        return [p.book, p.table, e.entry, e.loaded, self.actions.status, p.upload, *e.fields()]

    def wire_tab(self, tab: gr.Tab) -> None:
        """Re-read the lorebooks whenever ``tab`` is shown."""
        tab.select(self.boundary.guard(self.refresh), [self.picker.book], self.outputs(),
                   show_progress="hidden", **self.QUEUE)  # fmt: skip

    def _setup_events(self) -> None:
        guard, p, e, a = self.boundary.guard, self.picker, self.editor, self.actions
        common: dict[str, Any] = {"outputs": self.outputs(), "show_progress": "hidden",
                                  **self.QUEUE}  # fmt: skip
        p.book.input(guard(self.pick_book), [p.book], **common)
        e.entry.input(None, [e.loaded, e.entry, *e.fields(), a.status], [*e.fields(), a.status],
                      js=PICK_JS, show_progress="hidden")  # fmt: skip
        p.upload.upload(guard(self.import_world), [p.upload], **common)
        a.save.click(guard(self.save_entry), [p.book, e.entry, *e.fields()], **common)
        a.add.click(guard(self.add_entry), [p.book], **common)
        a.delete.click(guard(self.delete_entry), [p.book, e.entry], **common)

    # -- showing ---------------------------------------------------------------------------

    def book_choices(self) -> list[tuple[str, int]]:
        """Every lorebook, with the character it belongs to."""
        return [
            (f"{b.name}{f' ({b.owner})' if b.owner else ''} · {b.entry_count} entries", b.id)
            for b in self.lorebooks.books()
        ]

    def refresh(self, book_id: int | None) -> Updates:
        """Re-read the lorebooks (when the tab is shown)."""
        ids = [value for _, value in self.book_choices()]
        return self.show(book_id if book_id in ids else (ids[0] if ids else None), None)

    def pick_book(self, book_id: int | None) -> Updates:
        """Show the book picked in the book picker (its first entry in the editor)."""
        return self.show(book_id, None)

    def show(self, book_id: int | None, entry_id: int | None, status: str = "") -> Updates:
        """The book picker, the entries table and the editor for one entry."""
        book = self._book(book_id)
        entries = list(book.entries) if book else []
        chosen = next((e for e in entries if e.id == entry_id), entries[0] if entries else None)
        e = self.editor
        updates: Updates = {
            self.picker.book: gr.update(
                choices=self.book_choices(), value=book.id if book else None
            ),
            self.picker.table: [entry_row(i, x.data) for i, x in enumerate(entries)],
            e.entry: gr.update(
                choices=[(entry_label(i, x.data), x.id) for i, x in enumerate(entries)],
                value=chosen.id if chosen else None,
            ),
            e.loaded: {str(x.id): editor_values(x.data) for x in entries},
            self.actions.status: status_html(status),
        }
        updates.update(self._fill(chosen))
        return updates

    def _book(self, book_id: int | None) -> Lorebook | None:
        if book_id is None:
            return None
        try:
            return self.lorebooks.book(int(book_id))
        except ParlorError:
            return None

    def _fill(self, entry: LorebookEntry | None) -> Updates:
        values = editor_values(entry.data if entry else {"uid": 0, **NEW_ENTRY})
        return dict(zip(self.editor.fields(), values, strict=True))

    # -- changes ---------------------------------------------------------------------------

    def import_world(self, upload: Any) -> Updates:
        """Import a SillyTavern World Info file as a new lorebook (or open the same one)."""
        if not upload:
            return {}
        results = import_uploads(self.uploads, upload, self.lorebooks.import_world)
        report, last = "\n".join(report_lines(results)), results[-1]
        if last.ok and last.item_id is not None:
            updates = self.show(last.item_id, None, report)
        else:
            updates = self.refresh(None)
            updates[self.actions.status] = status_html(report, error=not last.ok)
        updates[self.picker.upload] = None
        return updates

    def save_entry(self, book_id: int | None, entry_id: int | None, *values: Any) -> Updates:
        """Write the editor's values into the entry."""
        if book_id is None or entry_id is None:
            raise ParlorError("Pick an entry first.")
        edit = entry_edit(dict(zip(EDITOR_KEYS, values, strict=True)))
        entry = self.lorebooks.update_entry(int(book_id), int(entry_id), edit)
        return self.show(entry.lorebook_id, entry.id, "Entry saved.")

    def add_entry(self, book_id: int | None) -> Updates:
        """Append a new entry to the book and open it."""
        if book_id is None:
            raise ParlorError("Pick a lorebook first.")
        entry = self.lorebooks.add_entry(int(book_id))
        return self.show(entry.lorebook_id, entry.id, "Entry added.")

    def delete_entry(self, book_id: int | None, entry_id: int | None) -> Updates:
        """Delete the entry."""
        if book_id is None or entry_id is None:
            raise ParlorError("Pick an entry first.")
        self.lorebooks.delete_entry(int(book_id), int(entry_id))
        return self.show(book_id, None, "Entry deleted.")


def _choice(value: object, choices: list[tuple[str, int]]) -> int:
    allowed = {v for _, v in choices}
    number = int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
    return number if number in allowed else 0


def _number(value: object, default: int) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    return default


def _whole(value: object, default: int, field: str) -> int:
    """A form number as an int (``default`` when empty); InputError naming ``field``."""
    if value is None or value == "":
        return default
    try:
        return int(float(str(value)))
    except (ValueError, OverflowError):  # "x", "nan", "inf"
        raise InputError(field, f"not a number: {value!r}") from None
