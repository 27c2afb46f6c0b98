"""The lorebook service: entry ids allocated inside, edits keep unknown keys, one transaction."""

from __future__ import annotations

import pytest

from app.chat.lorebooks import EntryEdit, LorebookService, next_uid
from app.context import AppContext
from app.errors import InputError, NotFound
from app.storage.repositories import LorebookRepository


@pytest.fixture
def lorebooks(context: AppContext) -> LorebookService:
    return context.services.lorebooks


def test_books_name_their_character(lorebooks: LorebookService) -> None:
    books = lorebooks.books()
    assert books and all(b.entry_count == len(lorebooks.book(b.id).entries) for b in books)
    assert any(b.owner == "Ysolde Marrow" for b in books)


def test_add_allocates_the_next_uid_and_edits_keep_other_keys(lorebooks: LorebookService) -> None:
    book = lorebooks.books()[0]
    before = lorebooks.book(book.id).entries
    added = lorebooks.add_entry(book.id)
    assert added.data["uid"] == next_uid(before) and added.data["comment"] == "New entry"
    again = lorebooks.add_entry(book.id)
    assert again.data["uid"] == added.data["uid"] + 1
    first = before[0]
    edited = lorebooks.update_entry(
        book.id, first.id, EntryEdit(keys=("ink", "quill"), content="Ink is alive.")
    )
    assert edited.data["key"] == ["ink", "quill"] and edited.data["content"] == "Ink is alive."
    assert edited.data["uid"] == first.data["uid"]
    kept = {k: v for k, v in first.data.items() if k not in edited.data or k == "uid"}
    assert all(edited.data[k] == v for k, v in kept.items())
    lorebooks.delete_entry(book.id, again.id)
    assert len(lorebooks.book(book.id).entries) == len(before) + 1


def test_an_entry_of_another_book_or_bad_values_are_refused(
    lorebooks: LorebookService, context: AppContext
) -> None:
    first = lorebooks.books()[0]
    second = context.stores.lorebooks.create("Other", entries=[{"uid": 0, "content": "x"}])
    other = lorebooks.book(second.id).entries[0]
    with pytest.raises(NotFound):
        lorebooks.update_entry(first.id, other.id, EntryEdit(content="x"))
    with pytest.raises(InputError, match="probability"):
        lorebooks.update_entry(second.id, other.id, EntryEdit(probability=150))
    assert lorebooks.book(second.id).entries[0].data == other.data


def test_a_failed_write_allocates_nothing(
    lorebooks: LorebookService, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = lorebooks.books()[0]
    count = len(lorebooks.book(book.id).entries)
    original = LorebookRepository._touch

    def broken(self: LorebookRepository, *args: object) -> object:
        raise InputError("lorebook", "disk full")

    monkeypatch.setattr(LorebookRepository, "_touch", broken)
    with pytest.raises(InputError):
        lorebooks.add_entry(book.id)
    monkeypatch.setattr(LorebookRepository, "_touch", original)
    assert len(lorebooks.book(book.id).entries) == count
