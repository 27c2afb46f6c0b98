"""File inputs take only what was uploaded through this server's own pages.

Gradio hands a handler the path of each uploaded file, inside its upload folder.  A
crafted API call can name any path instead; :class:`UploadGuard` refuses every path that
is not inside one of its roots (by default Gradio's upload folder, which
:func:`app.server.serve` makes private to the process).

Every import button takes the same loop, :func:`import_uploads` (a progress bar naming
each file, one failing file never stopping the rest), and reports each file in one
``✓`` or ``✗`` line made by :func:`report_lines`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from gradio.utils import get_upload_folder

from app.chat.imports import ImportResult
from app.errors import InputError, ParlorError

#: How a report line names what was imported, by kind (cards by their name alone).
_LABELS: Final = {
    "card": "", "lorebook": "lorebook ", "preset": "sampler preset ",
    "template": "prompt format ", "reasoning": "reasoning template ", "persona": "persona ",
}  # fmt: skip


class Progress(Protocol):
    """Gradio's progress callback (``gr.Progress``), as the upload loop calls it."""

    def __call__(self, progress: float, desc: str | None = None) -> object:
        """Show ``progress`` (0 to 1) with the text ``desc``."""
        ...


class UploadGuard:
    """Turns a file input's value into paths, refusing anything not uploaded here."""

    def __init__(self, roots: Sequence[Path] | None = None) -> None:
        self._roots = tuple(roots) if roots is not None else None

    def roots(self) -> tuple[Path, ...]:
        """The folders uploads may come from (Gradio's upload folder unless set)."""
        if self._roots is not None:
            return tuple(root.resolve() for root in self._roots)
        return (Path(get_upload_folder()).resolve(),)

    def each(self, files: Any, progress: Progress | None = None) -> Iterator[Path | InputError]:
        """Each file of ``files`` (one or several): its checked path, or why it is refused.

        With ``progress``, the bar names each file as its turn comes.
        """
        items = _items(files)
        for number, item in enumerate(items, 1):
            if progress is not None:
                shown = Path(str(getattr(item, "name", item))).name
                progress(
                    (number - 1) / len(items), desc=f"Importing {shown} ({number}/{len(items)})"
                )
            try:
                path = self.path(item)
            except InputError as exc:
                yield exc
                continue
            yield path

    def path(self, item: Any) -> Path:
        """One uploaded file's path; ``InputError`` unless it was uploaded here."""
        raw = getattr(item, "path", None) or getattr(item, "name", None) or item
        path = Path(str(raw)).resolve()
        if not any(path.is_relative_to(root) for root in self.roots()):
            raise InputError(path.name, "was not uploaded through this page; upload it again")
        return path


def _items(files: Any) -> list[Any]:
    """A file input's value (None, one file or several) as a list."""
    if files is None:
        return []
    return list(files) if isinstance(files, list | tuple) else [files]


def import_uploads(
    guard: UploadGuard,
    files: Any,
    import_one: Callable[[Path], ImportResult],
    progress: Progress | None = None,
) -> list[ImportResult]:
    """``import_one`` for each uploaded file; a refused or failing file is its own result."""
    results: list[ImportResult] = []
    for upload in guard.each(files, progress):
        if isinstance(upload, InputError):
            results.append(ImportResult(Path(upload.source), None, error=str(upload)))
            continue
        try:
            results.append(import_one(upload))
        except ParlorError as exc:
            results.append(ImportResult(upload, None, error=str(exc)))
    return results


def report_lines(results: Iterable[ImportResult]) -> list[str]:
    """One ``✓`` or ``✗`` line per file, notes (a preset's report) indented under it."""
    return [line for result in results for line in _lines_of(result)]


def _lines_of(result: ImportResult) -> list[str]:
    name = result.path.name
    if result.error is not None:
        error = result.error.replace(str(result.path), name)  # not the server's upload path
        return [f"✗ {error if error.startswith(name) else f'{name}: {error}'}"]
    if result.skipped is not None:
        return [f"✓ {name}: {result.skipped}"]
    notes = [f"  {line}" for line in result.report]
    if result.kind == "preset" and not notes:
        notes = ["  Every setting was honoured."]
    if result.kind == "chat":
        return [f"✓ {name}: imported “{result.name}”", *notes]
    label = _LABELS.get(result.kind or "", f"{result.kind} ")
    return [f"✓ {name}: imported {label}{result.name}", *notes]
