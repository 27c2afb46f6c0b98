"""PreferencesRepository: the user's defaults that are not tied to one chat."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.storage.db import Database
from app.storage.models import PreferenceRow

#: Preference keys.
DEFAULT_FORMAT = "default_format"
DEFAULT_PRESET = "default_preset"
DEFAULT_REASONING = "default_reasoning_template"
#: Followed by a model's name: the reasoning template chosen for that model.
REASONING_TEMPLATE = "reasoning_template:"


class PreferencesRepository:
    """Typed access to the ``preferences`` table of one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def default_format(self, *, session: Session | None = None) -> str | None:
        """The prompt format a chat uses when neither it nor its character names one."""
        return self._text(DEFAULT_FORMAT, session)

    def set_default_format(self, name: str | None, *, session: Session | None = None) -> None:
        """Set (or with ``None`` clear) the default prompt format."""
        self._set(DEFAULT_FORMAT, name, session)

    def default_preset(self, *, session: Session | None = None) -> str | None:
        """The sampler preset a chat uses when neither it nor its character names one."""
        return self._text(DEFAULT_PRESET, session)

    def set_default_preset(self, name: str | None, *, session: Session | None = None) -> None:
        """Set (or with ``None`` clear) the default sampler preset."""
        self._set(DEFAULT_PRESET, name, session)

    def default_reasoning_template(self, *, session: Session | None = None) -> str | None:
        """The reasoning template of models whose chat template names none (None: DeepSeek)."""
        return self._text(DEFAULT_REASONING, session)

    def set_default_reasoning_template(
        self, name: str | None, *, session: Session | None = None
    ) -> None:
        """Set (or with ``None`` clear) the default reasoning template."""
        self._set(DEFAULT_REASONING, name, session)

    def reasoning_template(self, model: str, *, session: Session | None = None) -> str | None:
        """The reasoning template chosen for the model called ``model`` (None: detect it)."""
        return self._text(REASONING_TEMPLATE + model, session)

    def set_reasoning_template(
        self, model: str, name: str | None, *, session: Session | None = None
    ) -> None:
        """Choose (or with ``None`` forget) the reasoning template of a model."""
        self._set(REASONING_TEMPLATE + model, name, session)

    def _text(self, key: str, session: Session | None) -> str | None:
        with self._db.read(session) as s:
            value = s.scalar(select(PreferenceRow.value).where(PreferenceRow.key == key))
        return value if isinstance(value, str) and value else None

    def _set(self, key: str, value: str | None, session: Session | None) -> None:
        with self._db.write(session) as s:
            if value is None:
                s.execute(delete(PreferenceRow).where(PreferenceRow.key == key))
                return
            row = s.get(PreferenceRow, key)
            if row is None:
                s.add(PreferenceRow(key=key, value=value))
            else:
                row.value = value
            s.flush()
