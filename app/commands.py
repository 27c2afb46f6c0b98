"""The ``parlor import / export / list / prompt`` subcommands (the CLI boundary).

Each handler builds the application context from the settings, calls services and
prints; errors are ``ParlorError`` and ``app.cli`` maps them to one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.chat.imports import Importer
from app.chat.transient import transient_chat, transient_history
from app.context import AppContext, build_context
from app.engine.models import bundled_model_path, list_models
from app.errors import InputError, NotFound
from app.presets.sillytavern import export_sillytavern
from app.settings import Settings
from app.storage.types import Role


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``import``, ``export``, ``list`` and ``prompt``."""
    imp = commands.add_parser("import", help="Import cards, lorebooks, presets, templates, chats.")
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="Files or folders.")
    imp.add_argument("--character", help="Attach imported chats to this character.")
    imp.set_defaults(handler=run_import, needs_model=False)

    exp = commands.add_parser("export", help="Export a character, its chats, or a preset.")
    exp.add_argument("what", choices=["character", "chats", "preset"])
    exp.add_argument("name", help="Character or preset name (or character id).")
    exp.add_argument("--format", choices=["png", "json", "charx"], default="png")
    exp.add_argument("-o", "--output", type=Path, required=True, help="File (or folder).")
    exp.set_defaults(handler=run_export, needs_model=False)

    lst = commands.add_parser("list", help="List characters, chats, presets, templates, models.")
    lst.add_argument("what", choices=["characters", "chats", "presets", "templates", "models"])
    lst.set_defaults(handler=run_list, needs_model=False)

    prm = commands.add_parser("prompt", help="Print the exact prompt for a new chat.")
    prm.add_argument("--character", required=True, help="Character name or id.")
    prm.add_argument("--format", help="Prompt format (template) name; default: from the model.")
    prm.add_argument("--preset", help="Sampler preset name; default: the model's.")
    prm.add_argument("--user", help="The user's name (default: the default persona, else User).")
    prm.add_argument("--message", action="append", default=[], help="A message (repeatable).")
    prm.set_defaults(handler=run_prompt, needs_model=True)


def open_context(settings: Settings, *, needs_model: bool) -> AppContext:
    """The application context for a one-shot command."""
    return build_context(settings, load_model=needs_model)


def run_import(context: AppContext, args: argparse.Namespace) -> int:
    """Import every item; one line each; exit status 1 if any failed."""
    importer = Importer(
        context.library,
        context.presets,
        context.formats,
        context.settings.data_dir / "templates",
        context.chat_files.import_file,
    )
    files = importer.files(list(args.paths))
    failed = 0
    for number, path in enumerate(files, 1):
        result = importer.import_file(path, character=args.character)
        if len(files) > 1:
            _progress(number, len(files))
        if result.ok:
            print(f"imported {result.kind} {result.name!r} from {path}")
            for line in result.report:
                print(f"  {line}")
        else:
            failed += 1
            print(f"failed: {result.error}")
    if not files:
        raise InputError(" ".join(map(str, args.paths)), "nothing to import there")
    return 1 if failed else 0


def run_export(context: AppContext, args: argparse.Namespace) -> int:
    """Write a card, a character's chats (one JSONL each) or a preset."""
    out: Path = args.output
    if args.what == "character":
        character = context.library.find(args.name)
        out.write_bytes(context.library.export_card(character.id, args.format))
        print(f"wrote {out}")
    elif args.what == "chats":
        character = context.library.find(args.name)
        for path in context.chat_files.export_character(character.id, out):
            print(f"wrote {path}")
    else:
        import json

        preset = context.presets.load(args.name)
        text = json.dumps(export_sillytavern(preset), indent=4, ensure_ascii=False)
        out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


def run_list(context: AppContext, args: argparse.Namespace) -> int:
    """One line per item."""
    stores = context.stores
    if args.what == "characters":
        for c in stores.characters.list_characters():
            tags = f"  [{', '.join(c.tags)}]" if c.tags else ""
            print(f"{c.id}\t{c.name}{tags}")
    elif args.what == "chats":
        names = {c.id: c.name for c in stores.characters.list_characters()}
        for chat in stores.chats.list_chats():
            who = ", ".join(names.get(i, "?") for i in chat.character_ids)
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


def run_prompt(context: AppContext, args: argparse.Namespace) -> int:
    """The exact prompt for a new chat to stdout, its token count to stderr."""
    character = context.library.find(args.character)
    card = context.library.card(character.id)
    metadata = {k: v for k, v in (("template", args.format), ("preset", args.preset)) if v}
    if args.format:
        context.formats.get(args.format)
    if args.preset:
        context.presets.load(args.preset)
    chat = transient_chat(character.id, metadata)
    user = args.user or _default_user(context)
    turns = [(Role.ASSISTANT, card.name, card.first_mes)]
    for index, text in enumerate(args.message, 1):
        turns.append((Role.USER, user, text) if index % 2 else (Role.ASSISTANT, card.name, text))
    history = transient_history(turns)
    prompt = context.chat.prompt_for(chat, history, user_name=args.user)
    sys.stdout.write(prompt.text)
    sys.stdout.flush()
    print(f"\n{prompt.n_tokens} tokens ({prompt.format_name})", file=sys.stderr)
    return 0


def _default_user(context: AppContext) -> str:
    persona = context.stores.personas.get_default()
    return persona.name if persona else "User"


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done == total else ""
    print(f"\r[{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)


__all__ = ["NotFound", "add_commands", "open_context"]
