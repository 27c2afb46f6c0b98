"""``parlor memory CHAT`` and ``parlor memory rebuild CHAT``: a chat's long-term memory."""

from __future__ import annotations

import argparse
import sys

from app.commands.data import index_with_progress
from app.context import AppContext
from app.errors import InputError

#: Settings flags of ``parlor memory``: the data folder only.
MEMORY_SETTINGS = ("data_dir",)


def add_memory_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``memory``."""
    mem = commands.add_parser(
        "memory",
        help="Show a chat's long-term memory (memory CHAT), or embed it anew "
        "(memory rebuild CHAT).",
    )
    mem.add_argument("words", nargs="+", metavar="[rebuild] CHAT", help="A chat's id or title.")
    mem.set_defaults(handler=run_memory, needs_model=False, settings=MEMORY_SETTINGS)


def run_memory(context: AppContext, args: argparse.Namespace) -> int:
    """Print the chat's memory, or rebuild its index first (with a progress bar)."""
    words: list[str] = args.words
    if len(words) > 2 or (len(words) == 2 and words[0] != "rebuild"):
        raise InputError("memory", "give a chat, or: rebuild CHAT")
    chat = context.chat.find_chat(words[-1])
    memory = context.services.memory
    if len(words) == 2:
        embedded = index_with_progress(memory, chat.id, rebuild=True)
        print(f"embedded {embedded} messages", file=sys.stderr)
    overview = memory.overview(chat.id)
    state = "on" if overview.settings.enabled else "off"
    print(f"chat {chat.id} {chat.title!r}: memory {state}")
    print(
        f"index: {overview.chunks} chunks of {overview.messages} messages "
        f"({overview.path_messages} on the shown path), model {overview.model}"
    )
    for view in overview.summaries:
        pin = ", pinned" if view.summary.pinned and view.state != "fact" else ""
        covers = f" of {len(view.summary.message_ids)} messages" if view.summary.message_ids else ""
        print(f"[{view.summary.id}] {view.state}{covers}{pin}: {view.summary.text}")
    pending = memory.pending(chat.id)
    if pending:
        print(f"not embedded yet: {pending} messages (embedded when they leave the context)")
    return 0
