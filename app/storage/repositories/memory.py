"""MemoryRepository: embedded message chunks, summaries, pinned facts, memory settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.storage.db import Database
from app.storage.memory_types import MemorySettings, StoredChunk, Summary, SummaryKind
from app.storage.models import (
    MemoryChunkRow,
    MemorySettingsRow,
    MemorySummaryRow,
    table_of,
    utcnow,
)

_C = MemoryChunkRow
_S = MemorySummaryRow


class MemoryRepository:
    """Typed access to ``memory_chunks`` and ``memory_settings`` of one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def chunks(
        self, chat_id: int, model: str, *, session: Session | None = None
    ) -> list[StoredChunk]:
        """Every chunk of the chat embedded with ``model``, by message and position."""
        query = (
            select(_C.message_id, _C.chunk_index, _C.digest, _C.text, _C.vector)
            .where(_C.chat_id == chat_id, _C.model == model)
            .order_by(_C.message_id, _C.chunk_index)
        )
        with self._db.read(session) as s:
            return [StoredChunk(*row) for row in s.execute(query)]

    def replace(
        self,
        chat_id: int,
        model: str,
        dim: int,
        chunks: Mapping[int, Sequence[StoredChunk]],
        *,
        session: Session | None = None,
    ) -> None:
        """Store ``chunks`` (message id → its chunks) in place of those messages' old ones."""
        with self._db.write(session) as s:
            ids = list(chunks)
            for start in range(0, len(ids), 500):
                batch = ids[start : start + 500]
                s.execute(delete(_C).where(_C.message_id.in_(batch)))
            rows = [
                {
                    "chat_id": chat_id, "message_id": c.message_id, "chunk_index": c.chunk_index,
                    "digest": c.digest, "model": model, "dim": dim, "text": c.text,
                    "vector": c.vector,
                }
                for items in chunks.values()
                for c in items
            ]  # fmt: skip
            if rows:
                s.execute(table_of(_C).insert(), rows)

    def clear(self, chat_id: int, *, session: Session | None = None) -> None:
        """Forget every chunk of the chat."""
        with self._db.write(session) as s:
            s.execute(delete(_C).where(_C.chat_id == chat_id))

    def size(self, chat_id: int, *, session: Session | None = None) -> tuple[int, int]:
        """How many chunks, of how many messages, the chat's index holds."""
        query = select(func.count(), func.count(func.distinct(_C.message_id))).where(
            _C.chat_id == chat_id
        )
        with self._db.read(session) as s:
            row = s.execute(query).one()
        return int(row[0]), int(row[1])

    def settings(self, chat_id: int, *, session: Session | None = None) -> MemorySettings:
        """The chat's memory settings (the defaults where none are stored)."""
        with self._db.read(session) as s:
            data = s.scalar(
                select(MemorySettingsRow.settings).where(MemorySettingsRow.chat_id == chat_id)
            )
        return MemorySettings.from_json(data)

    def save_settings(
        self, chat_id: int, settings: MemorySettings, *, session: Session | None = None
    ) -> None:
        """Store the chat's memory settings."""
        with self._db.write(session) as s:
            row = s.get(MemorySettingsRow, chat_id)
            if row is None:
                s.add(MemorySettingsRow(chat_id=chat_id, settings=settings.to_json()))
            else:
                row.settings = settings.to_json()

    # -- summaries and pinned facts ----------------------------------------------------

    def summaries(self, chat_id: int, *, session: Session | None = None) -> list[Summary]:
        """The chat's summaries and pinned facts, oldest first."""
        query = select(_S).where(_S.chat_id == chat_id).order_by(_S.id)
        with self._db.read(session) as s:
            return [_summary(row) for row in s.scalars(query)]

    def add_summary(
        self,
        chat_id: int,
        kind: SummaryKind,
        text: str,
        *,
        message_ids: Sequence[int] = (),
        digest: str = "",
        pinned: bool = False,
        replaces: Sequence[int] = (),
        session: Session | None = None,
    ) -> Summary:
        """Store a summary (or fact) in place of the summaries ``replaces`` names."""
        with self._db.write(session) as s:
            if replaces:
                s.execute(delete(_S).where(_S.chat_id == chat_id, _S.id.in_(list(replaces))))
            row = _S(
                chat_id=chat_id, kind=kind, message_ids=list(message_ids), digest=digest,
                text=text, pinned=pinned, created_at=utcnow(),
            )  # fmt: skip
            s.add(row)
            s.flush()
            return _summary(row)

    def update_summary(
        self,
        summary_id: int,
        *,
        text: str | None = None,
        pinned: bool | None = None,
        session: Session | None = None,
    ) -> Summary:
        """Change a summary's text or pin; ``NotFound`` if there is none."""
        with self._db.write(session) as s:
            row = s.get(_S, summary_id)
            if row is None:
                raise NotFound("summary", summary_id)
            if text is not None:
                row.text = text
            if pinned is not None:
                row.pinned = pinned
            s.flush()
            return _summary(row)

    def delete_summary(self, summary_id: int, *, session: Session | None = None) -> Summary:
        """Delete a summary or fact; ``NotFound`` if there is none."""
        with self._db.write(session) as s:
            row = s.get(_S, summary_id)
            if row is None:
                raise NotFound("summary", summary_id)
            gone = _summary(row)
            s.delete(row)
            return gone


def _summary(row: MemorySummaryRow) -> Summary:
    kind: SummaryKind = "fact" if row.kind == "fact" else "summary"
    ids = tuple(int(i) for i in row.message_ids or ())
    return Summary(row.id, row.chat_id, kind, ids, row.digest, row.text, bool(row.pinned))
