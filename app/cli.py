"""The ``parlor`` command line: ``serve`` (default), ``import``, ``export``, ``list``, ``prompt``,
``memory``.

Settings flags are generated from :class:`app.settings.Settings`, so every setting has
exactly one flag with the same help text: ``serve`` has them all, every other command
only those of the settings it uses (its ``settings`` default, see :mod:`app.commands`).
``serve`` holds the data folder's lock (:mod:`app.datalock`) while it runs.  Errors are
mapped here, once: a ``ParlorError`` prints one line to stderr and exits 1; nothing
prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from app.datalock import DataFolderLock
from app.errors import ParlorError
from app.settings import Settings

Handler = Callable[[argparse.Namespace], int]

#: Settings that are not command-line flags (none today; kept explicit).
_NOT_FLAGS: frozenset[str] = frozenset()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``parlor`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help")):
        args.insert(0, "serve")
    namespace = parser.parse_args(args)
    handler: Handler = namespace.handler
    try:
        return handler(namespace)
    except ParlorError as exc:
        print(f"parlor: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="parlor", description="Local roleplay chat with llama.cpp in process."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="Serve the chat UI and API (the default).")
    add_settings_flags(serve)
    serve.set_defaults(handler=_serve)
    from app.commands import add_commands  # the context builder imports the world

    before = set(commands.choices)
    add_commands(commands)
    for name in set(commands.choices) - before:
        sub = commands.choices[name]
        add_settings_flags(sub, only=sub.get_default("settings"))
        command_handler: Handler = _with_context(sub.get_default("handler"))
        sub.set_defaults(handler=command_handler)
    return parser


def add_settings_flags(
    parser: argparse.ArgumentParser, *, only: Collection[str] | None = None
) -> None:
    """One ``--flag`` per settings field (or per field in ``only``), with its help text."""
    group = parser.add_argument_group("settings")
    for name, field in Settings.model_fields.items():
        if name in _NOT_FLAGS or (only is not None and name not in only):
            continue
        flag = "--" + name.replace("_", "-")
        base = _base_type(field.annotation)
        help_text = field.description or ""
        if base is bool:
            group.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
            continue
        choices = typing.get_args(base) if typing.get_origin(base) is typing.Literal else None
        group.add_argument(
            flag,
            dest=name,
            default=None,
            help=help_text,
            choices=choices,
            type=_converter(base) if not choices else str,
            metavar=name.upper(),
        )


def settings_from(namespace: argparse.Namespace) -> Settings:
    """Settings with the command line's values ranked above everything else."""
    values = {k: getattr(namespace, k, None) for k in Settings.model_fields}
    return Settings.load(**values)


def _base_type(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def _converter(base: Any) -> Callable[[str], Any]:
    if base in (int, float, Path):
        return base  # type: ignore[no-any-return]
    return str


def _serve(namespace: argparse.Namespace) -> int:
    settings = settings_from(namespace)  # bad settings fail fast, before slow imports
    # A second server on the same folder is refused before anything slow happens.
    with DataFolderLock(settings.data_dir).holding(port=settings.port):
        from app.server import serve  # imported late: gradio is slow to import

        serve(settings)
    return 0


def _with_context(run: Callable[[Any, argparse.Namespace], int]) -> Handler:
    """Wrap a subcommand so it gets an application context built from the settings."""

    def handler(namespace: argparse.Namespace) -> int:
        from app.commands import open_context

        settings = settings_from(namespace)
        context = open_context(settings, needs_model=namespace.needs_model)
        try:
            return run(context, namespace)
        finally:
            context.close()

    return handler
