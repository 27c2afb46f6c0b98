"""User preferences: the default format and preset survive a restart; clearing works."""

from __future__ import annotations

from pathlib import Path

from app.storage import Database, open_database
from app.storage.repositories import PreferencesRepository


def test_defaults_start_empty_and_persist(db: Database, tmp_path: Path) -> None:
    prefs = PreferencesRepository(db)
    assert (prefs.default_format(), prefs.default_preset()) == (None, None)
    prefs.set_default_format("Llama 3 Instruct")
    prefs.set_default_preset("Universal-Light")
    prefs.set_default_preset("Euryale")
    db.close()
    again = open_database(tmp_path / "parlor.db")
    again.migrate()
    reopened = PreferencesRepository(again)
    assert reopened.default_format() == "Llama 3 Instruct"
    assert reopened.default_preset() == "Euryale"
    reopened.set_default_format(None)
    assert reopened.default_format() is None
    again.close()


def test_one_transaction_holds_both(db: Database) -> None:
    prefs = PreferencesRepository(db)
    with db.transaction() as session:
        prefs.set_default_format("ChatML", session=session)
        prefs.set_default_preset("Stheno", session=session)
    assert (prefs.default_format(), prefs.default_preset()) == ("ChatML", "Stheno")
