"""The ``parlor import / export / list / prompt`` subcommands (the CLI boundary).

Each handler gets the application context built from the settings, calls services and
prints; errors are ``ParlorError`` and ``app.cli`` maps them to one line.  Each
subcommand names the settings it uses (its ``settings`` default): only those get flags.
``import``, ``export`` and ``list`` live in :mod:`app.commands.data`, ``prompt`` in
:mod:`app.commands.prompt`.
"""

from __future__ import annotations

import argparse

from app.commands.data import add_data_commands
from app.commands.memory import add_memory_command
from app.commands.prompt import add_prompt_command
from app.context import AppContext, build_context
from app.settings import Settings


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``import``, ``export``, ``list`` and ``prompt``."""
    add_data_commands(commands)
    add_prompt_command(commands)
    add_memory_command(commands)


def open_context(settings: Settings, *, needs_model: bool) -> AppContext:
    """The application context for a one-shot command."""
    return build_context(settings, load_model=needs_model)


__all__ = ["add_commands", "open_context"]
