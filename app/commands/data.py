"""``parlor import``, ``parlor export`` and ``parlor list``: items in and out of the data folder."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from app.chat.file_names import safe_file_name
from app.chat.imports import Importer, ImportResult
from app.chat.memory.service import MemoryService
from app.context import AppContext
from app.datalock import running_server
from app.engine.models import bundled_model_path, list_models
from app.errors import InputError
from app.presets.sillytavern import export_sillytavern

#: Settings flags of the commands that only read or write the data folder.
DATA_SETTINGS = ("data_dir",)


def add_data_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``import``, ``export`` and ``list``."""
    imp = commands.add_parser("import", help="Import cards, lorebooks, presets, templates, chats.")
    imp.add_argument("paths", nargs="+", metavar="PATH", help="Files or folders.")
    imp.add_argument("--character", help="Attach imported chats to this character.")
    imp.set_defaults(handler=run_import, needs_model=False, settings=DATA_SETTINGS)

    exp = commands.add_parser(
        "export", help="Export a character, its chats, a group and its chats, or a preset."
    )
    exp.add_argument("what", choices=["character", "chats", "group", "preset"])
    exp.add_argument("name", help="Character, group or preset name (or character/group id).")
    exp.add_argument("--format", choices=["png", "json", "charx"], default="png")
    exp.add_argument(
        "-o",
        "--output",
        required=True,
        help="File, or folder (existing, or ending in /): the file is named after the item.",
    )
    exp.set_defaults(handler=run_export, needs_model=False, settings=DATA_SETTINGS)

    lst = commands.add_parser("list", help="List characters, chats, presets, templates, models.")
    lst.add_argument("what", choices=["characters", "chats", "presets", "templates", "models"])
    lst.set_defaults(handler=run_list, needs_model=False, settings=(*DATA_SETTINGS, "models_dir"))


# -- import ------------------------------------------------------------------------


def run_import(context: AppContext, args: argparse.Namespace) -> int:
    """Import every item; one line each; exit status 1 if any failed.

    A server may run on the same data folder meanwhile: every item is stored in one
    SQLite transaction (WAL), so the two never see half an item.
    """
    importer = context.services.importer
    if not all(text.strip() for text in args.paths):
        # Path("") is the current folder: an unset shell variable imported all of it.
        raise InputError("PATH", "an empty path (a shell variable that was not set?)")
    files = importer.files([Path(text) for text in args.paths])
    if not files:
        raise InputError(" ".join(map(str, args.paths)), "nothing to import there")
    bar = ProgressBar(len(files), sys.stderr)
    results = []
    for number, path in enumerate(files, 1):
        result = import_one(importer, path, args.character)
        results.append(result)
        bar.clear()
        _print_result(result)
        _embed_imported_chat(context, result)
        bar.draw(number)
    bar.clear()
    failed = sum(1 for r in results if not r.ok)
    skipped = sum(1 for r in results if r.ok and r.skipped)
    also = f", {skipped} skipped" if skipped else ""
    print(f"{len(results) - failed - skipped} imported, {failed} failed{also}", file=sys.stderr)
    _note_running_server(context, results)
    return 1 if failed else 0


def import_one(importer: Importer, path: Path, character: str | None) -> ImportResult:
    """Import one file; whatever goes wrong becomes that file's one-line error."""
    try:
        return importer.import_file(path, character=character)
    except Exception as exc:  # one bad file never stops the others, nor prints a traceback
        return ImportResult(path, None, error=f"{path}: {_one_line(exc)}")


def _embed_imported_chat(context: AppContext, result: ImportResult) -> None:
    """Embed an imported chat for long-term memory (where memory is on), with a bar."""
    if result.kind == "chat" and result.item_id:
        done = index_with_progress(context.services.memory, result.item_id, imported=True)
        if done:
            print(f"  memory: embedded {done} messages")


def _print_result(result: ImportResult) -> None:
    print(result.line())
    if result.ok:
        for line in result.report:
            print(f"  {line}")
    sys.stdout.flush()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    detail = f": {lines[0][:200]}" if lines else ""
    return f"{type(exc).__name__}{detail}"


def _note_running_server(context: AppContext, results: list[ImportResult]) -> None:
    """Templates reach a running server at its restart (it keeps formats in memory)."""
    if not any(r.ok and r.kind == "template" for r in results):
        return
    holder = running_server(context.settings.data_dir)
    if holder is not None:
        print(
            f"note: the server running on this data folder ({holder.describe()}) "
            "offers the imported templates after a restart",
            file=sys.stderr,
        )


def index_with_progress(
    memory: MemoryService, chat_id: int, *, rebuild: bool = False, imported: bool = False
) -> int:
    """Embed the chat's messages that need it, a progress bar on stderr; returns how many."""
    bar: ProgressBar | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar(total, sys.stderr)
        bar.draw(done)

    try:
        run = memory.rebuild if rebuild else memory.index_imported if imported else memory.index
        return run(chat_id, progress)
    finally:
        if bar is not None:
            bar.clear()


class ProgressBar:
    """A progress bar on stderr, drawn only on a terminal, cleared before other lines."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._stream = stream
        self._enabled = total > 1 and stream.isatty()
        self._drawn = False

    def draw(self, done: int) -> None:
        """Show ``done`` of the total (on the current line, which it owns)."""
        if not self._enabled:
            return
        filled = self.WIDTH * done // self._total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self._stream.write(f"\r[{bar}] {done}/{self._total}")
        self._stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the bar, so that the next line starts at the left margin."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False


# -- export ------------------------------------------------------------------------


def run_export(context: AppContext, args: argparse.Namespace) -> int:
    """Write a card, a character's chats (one JSONL each) or a preset; one line per file."""
    try:
        for path in _export(context, args):
            print(f"wrote {path}")
    except OSError as exc:
        raise InputError(str(exc.filename or args.output), exc.strerror or str(exc)) from exc
    return 0


def _export(context: AppContext, args: argparse.Namespace) -> list[Path]:
    if args.what == "chats":
        character = context.library.find(args.name)
        return context.chat_files.export_character(character.id, Path(args.output))
    if args.what == "group":
        groups = context.services.groups
        return groups.export(groups.find(args.name).id, Path(args.output))
    if args.what == "character":
        character = context.library.find(args.name)
        card = context.services.characters.export(character.id, args.format)
        data, target = card.data, export_target(args.output, card.file_name)
    else:
        preset = context.presets.load(args.name)
        text = json.dumps(export_sillytavern(preset), indent=4, ensure_ascii=False) + "\n"
        data = text.encode("utf-8")
        target = export_target(args.output, f"{preset.name}.json")
    target.write_bytes(data)
    return [target]


def export_target(output: str, file_name: str) -> Path:
    """``output`` itself, or ``file_name`` inside it where it is (or ends like) a folder."""
    path = Path(output)
    if output.endswith(("/", os.sep)) or path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return path / safe_file_name(file_name, "export")
    return path


# -- list --------------------------------------------------------------------------


def run_list(context: AppContext, args: argparse.Namespace) -> int:
    """One line per item."""
    if args.what == "characters":
        for c in context.chat.characters():
            tags = f"  [{', '.join(c.tags)}]" if c.tags else ""
            print(f"{c.id}\t{c.name}{tags}")
    elif args.what == "chats":
        names = {c.id: c.name for c in context.chat.characters()}
        groups = context.services.groups.chat_groups()
        for chat in context.chat.recent_chats():
            who = ", ".join(names.get(i, "?") for i in chat.character_ids)
            who = f"group {groups[chat.id]}: {who}" if chat.id in groups else who
            print(f"{chat.id}\t{chat.title}\t{who}\t{chat.updated_at:%Y-%m-%d %H:%M}")
    elif args.what == "presets":
        print("\n".join(context.presets.names()))
    elif args.what == "templates":
        print("\n".join(context.formats.names()))
    else:
        bundled = bundled_model_path()
        if bundled is not None:
            print(f"{bundled}\tllama\tQ4_1\t{bundled.stat().st_size / 2**20:.0f} MiB  (bundled)")
        for model in list_models(context.settings.models_folder):
            state = f"  ({model.error})" if model.error else ""
            size = model.size_bytes / 2**20
            print(
                f"{model.path}\t{model.architecture}\t{model.quantization}\t{size:.0f} MiB{state}"
            )
    return 0
