"""File inputs take only what was uploaded through this server's own pages.

Gradio hands a handler the path of each uploaded file, inside its upload folder.  A
crafted API call can name any path instead; :class:`UploadGuard` refuses every path that
is not inside one of its roots (by default Gradio's upload folder, which
:func:`app.server.serve` makes private to the process).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gradio.utils import get_upload_folder

from app.errors import InputError


class UploadGuard:
    """Turns a file input's value into paths, refusing anything not uploaded here."""

    def __init__(self, roots: Sequence[Path] | None = None) -> None:
        self._roots = tuple(roots) if roots is not None else None

    def roots(self) -> tuple[Path, ...]:
        """The folders uploads may come from (Gradio's upload folder unless set)."""
        if self._roots is not None:
            return tuple(root.resolve() for root in self._roots)
        return (Path(get_upload_folder()).resolve(),)

    def paths(self, files: Iterable[Any] | Any) -> list[Path]:
        """Every file of ``files`` (one or several), each checked."""
        if files is None:
            return []
        items = files if isinstance(files, list | tuple) else [files]
        return [self.path(item) for item in items]

    def path(self, item: Any) -> Path:
        """One uploaded file's path; ``InputError`` unless it was uploaded here."""
        raw = getattr(item, "path", None) or getattr(item, "name", None) or item
        path = Path(str(raw)).resolve()
        if not any(path.is_relative_to(root) for root in self.roots()):
            raise InputError(path.name, "was not uploaded through this page; upload it again")
        return path
