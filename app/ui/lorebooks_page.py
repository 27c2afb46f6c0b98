"""The Lorebooks page: World Info books (standalone or a card's own) and their entries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import gradio as gr

from app.context import AppContext
from app.errors import InputError, ParlorError
from app.storage.types import JSONDict, Lorebook, LorebookEntry
from app.ui.library_page import split_tags
from app.ui.render import status_html
from app.ui.state import page_queue

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


def edited_entry(data: JSONDict, values: dict[str, Any]) -> JSONDict:
    """``data`` with the editor's values written over it (unknown keys are kept)."""
    out = dict(data)
    out["key"] = split_tags(values["keys"] or "")
    out["keysecondary"] = split_tags(values["secondary"] or "")
    out["comment"] = values["comment"] or ""
    out["content"] = values["content"] or ""
    out["constant"] = bool(values["constant"])
    out["disable"] = not bool(values["enabled"])
    out["selective"] = bool(out["keysecondary"]) or bool(out.get("selective", True))
    out["selectiveLogic"] = int(values["logic"] or 0)
    out["order"] = int(values["order"] if values["order"] is not None else 100)
    out["position"] = int(values["position"] or 0)
    out["depth"] = int(values["depth"] if values["depth"] is not None else 4)
    probability = int(values["probability"] if values["probability"] is not None else 100)
    if not 0 <= probability <= 100:
        raise InputError("probability", "must be between 0 and 100")
    out["probability"] = probability
    out["useProbability"] = probability < 100 or bool(out.get("useProbability", True))
    return out


def new_entry(uid: int) -> JSONDict:
    """A fresh, enabled entry with SillyTavern's defaults."""
    return {
        "uid": uid, "key": [], "keysecondary": [], "comment": "New entry", "content": "",
        "constant": False, "selective": True, "selectiveLogic": 0, "order": 100,
        "position": 0, "disable": False, "depth": 4, "probability": 100,
        "useProbability": True,
    }  # fmt: skip


class LorebooksPage:
    """Components and handlers of the Lorebooks page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("lorebooks")

    _EDITOR_KEYS: Final = (
        "keys", "secondary", "comment", "content", "constant", "enabled", "logic", "order",
        "position", "depth", "probability",
    )  # fmt: skip

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def render(self) -> None:
        """Create the components inside the current tab."""
        with gr.Row():
            self.book = gr.Dropdown(label="Lorebook", choices=[], elem_id="parlor-book", scale=3)
            self.upload = gr.File(
                label="Import World Info (JSON)",
                file_types=[".json"],
                scale=2,
                elem_id="parlor-wi-import",
            )
        self.table = gr.Dataframe(
            headers=TABLE_HEADERS, interactive=False, elem_id="parlor-entries", wrap=True
        )
        self.entry = gr.Dropdown(label="Entry", choices=[], elem_id="parlor-entry")
        with gr.Row():
            self.keys = gr.Textbox(label="Keys (comma-separated)", elem_id="parlor-entry-keys")
            self.secondary = gr.Textbox(label="Secondary keys")
            self.comment = gr.Textbox(label="Title / comment", elem_id="parlor-entry-comment")
        self.content = gr.Textbox(
            label="Content", lines=5, max_lines=30, elem_id="parlor-entry-content"
        )
        with gr.Row():
            self.enabled = gr.Checkbox(label="Enabled", value=True)
            self.constant = gr.Checkbox(label="Constant (always in)")
            self.logic = gr.Dropdown(label="Secondary key logic", choices=LOGIC, value=0)
            self.position = gr.Dropdown(label="Position", choices=POSITIONS, value=0)
        with gr.Row():
            self.order = gr.Number(label="Order", value=100, precision=0)
            self.depth = gr.Number(label="Depth", value=4, precision=0, minimum=0)
            self.probability = gr.Number(label="Probability %", value=100, precision=0)
        with gr.Row():
            self.save = gr.Button("Save entry", variant="primary", elem_id="parlor-entry-save")
            self.add = gr.Button("Add entry", elem_id="parlor-entry-add")
            self.delete = gr.Button("Delete entry", variant="stop", elem_id="parlor-entry-del")
        self.status = gr.HTML(elem_id="parlor-book-status")
        self._setup_events()

    def editor(self) -> list[Any]:
        """The entry editor's fields, in :attr:`_EDITOR_KEYS` order."""
        return [
            self.keys, self.secondary, self.comment, self.content, self.constant, self.enabled,
            self.logic, self.order, self.position, self.depth, self.probability,
        ]  # fmt: skip

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        return [self.book, self.table, self.entry, self.status, self.upload, *self.editor()]

    def _setup_events(self) -> None:
        common: dict[str, Any] = {
            "outputs": self.outputs(),
            "show_progress": "hidden",
            **self.QUEUE,
        }
        self.book.input(lambda book: self.show(book, None), [self.book], **common)
        self.entry.input(self.show, [self.book, self.entry], **common)
        self.upload.upload(self.import_world, [self.upload], **common)
        self.save.click(self.save_entry, [self.book, self.entry, *self.editor()], **common)
        self.add.click(self.add_entry, [self.book], **common)
        self.delete.click(self.delete_entry, [self.book, self.entry], **common)

    # -- showing ---------------------------------------------------------------------------

    def book_choices(self) -> list[tuple[str, int]]:
        """Every lorebook, with the character it belongs to."""
        names = {c.id: c.name for c in self.context.stores.characters.list_characters()}
        choices = []
        for book in self.context.stores.lorebooks.list_lorebooks():
            owner = (
                f" ({names.get(book.character_id, 'hidden character')})"
                if (book.character_id is not None)
                else ""
            )
            choices.append((f"{book.name}{owner} · {len(book.entries)} entries", book.id))
        return choices

    def refresh(self, book_id: int | None) -> Updates:
        """Re-read the lorebooks (when the tab is shown)."""
        choices = self.book_choices()
        ids = [value for _, value in choices]
        return self.show(book_id if book_id in ids else (ids[0] if ids else None), None)

    def show(
        self, book_id: int | None, entry_id: int | None, status: str = "", *, failed: bool = False
    ) -> Updates:
        """The book picker, the entries table and the editor for one entry."""
        book = self._book(book_id)
        updates: Updates = {
            self.book: gr.update(choices=self.book_choices(), value=book.id if book else None),
            self.status: status_html(status, error=failed),
        }
        entries = list(book.entries) if book else []
        updates[self.table] = [entry_row(i, e.data) for i, e in enumerate(entries)]
        chosen = next((e for e in entries if e.id == entry_id), entries[0] if entries else None)
        updates[self.entry] = gr.update(
            choices=[(entry_label(i, e.data), e.id) for i, e in enumerate(entries)],
            value=chosen.id if chosen else None,
        )
        updates.update(self._fill(chosen))
        return updates

    def _book(self, book_id: int | None) -> Lorebook | None:
        if book_id is None:
            return None
        try:
            return self.context.stores.lorebooks.get(int(book_id))
        except ParlorError:
            return None

    def _fill(self, entry: LorebookEntry | None) -> Updates:
        data = entry.data if entry else new_entry(0)
        values = {
            "keys": ", ".join(str(k) for k in data.get("key") or []),
            "secondary": ", ".join(str(k) for k in data.get("keysecondary") or []),
            "comment": str(data.get("comment") or ""),
            "content": str(data.get("content") or ""),
            "constant": bool(data.get("constant")),
            "enabled": not bool(data.get("disable")),
            "logic": _choice(data.get("selectiveLogic"), LOGIC),
            "order": _number(data.get("order"), 100),
            "position": _choice(data.get("position"), POSITIONS),
            "depth": _number(data.get("depth"), 4),
            "probability": _number(data.get("probability"), 100),
        }
        return {box: values[key] for key, box in zip(self._EDITOR_KEYS, self.editor(), strict=True)}

    # -- changes ---------------------------------------------------------------------------

    def import_world(self, upload: Any) -> Updates:
        """Import a SillyTavern World Info file as a new lorebook."""
        if not upload:
            return {}
        path = Path(upload if isinstance(upload, str) else getattr(upload, "name", str(upload)))
        try:
            book = self.context.library.import_world(path)
        except ParlorError as exc:
            updates = self.refresh(None)
            updates[self.status] = status_html(str(exc), error=True)
            updates[self.upload] = None
            return updates
        updates = self.show(book.id, None, f"Imported {book.name} ({len(book.entries)} entries).")
        updates[self.upload] = None
        return updates

    def save_entry(self, book_id: int | None, entry_id: int | None, *values: Any) -> Updates:
        """Write the editor's values into the entry."""
        book = self._book(book_id)
        entry = next((e for e in book.entries if e.id == entry_id), None) if book else None
        if book is None or entry is None:
            return {self.status: status_html("Pick an entry first.", error=True)}
        try:
            data = edited_entry(entry.data, dict(zip(self._EDITOR_KEYS, values, strict=True)))
            self.context.stores.lorebooks.update_entry(entry.id, data)
        except (ParlorError, ValueError, TypeError) as exc:
            return {self.status: status_html(f"entry: {exc}", error=True)}
        return self.show(book.id, entry.id, "Entry saved.")

    def add_entry(self, book_id: int | None) -> Updates:
        """Append a new entry to the book and open it."""
        book = self._book(book_id)
        if book is None:
            return {self.status: status_html("Pick a lorebook first.", error=True)}
        uids = [
            int(e.data.get("uid", 0)) for e in book.entries if str(e.data.get("uid", "")).isdigit()
        ]
        try:
            entry = self.context.stores.lorebooks.add_entry(
                book.id, new_entry(max(uids, default=-1) + 1)
            )
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(book.id, entry.id, "Entry added.")

    def delete_entry(self, book_id: int | None, entry_id: int | None) -> Updates:
        """Delete the entry."""
        if entry_id is None:
            return {self.status: status_html("Pick an entry first.", error=True)}
        try:
            self.context.stores.lorebooks.delete_entry(int(entry_id))
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(book_id, None, "Entry deleted.")


def _choice(value: object, choices: list[tuple[str, int]]) -> int:
    allowed = {v for _, v in choices}
    number = int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
    return number if number in allowed else 0


def _number(value: object, default: int) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return default
