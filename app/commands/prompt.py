"""``parlor prompt``: the exact prompt of a stored chat's next reply, or of a new chat."""

from __future__ import annotations

import argparse
import sys

from app.chat.transient import transient_chat, transient_history
from app.context import AppContext
from app.errors import InputError
from app.prompt.types import BuiltPrompt
from app.storage.types import ChatSettings, Role

#: Settings flags of ``parlor prompt``: the data folder and loading the model.
MODEL_SETTINGS = (
    "data_dir",
    "model",
    "models_dir",
    "n_ctx",
    "n_gpu_layers",
    "threads",
    "n_batch",
    "flash_attn",
    "cache_type_k",
    "cache_type_v",
    "remote_url",
    "remote_api_key",
    "remote_model",
)


def add_prompt_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``prompt``."""
    prm = commands.add_parser(
        "prompt", help="Print the exact prompt of a stored chat's next reply, or of a new chat."
    )
    which = prm.add_mutually_exclusive_group(required=True)
    which.add_argument("--chat", help="A stored chat (id or title): the prompt of its next reply.")
    which.add_argument("--character", help="Character name or id: the prompt of a new chat.")
    prm.add_argument(
        "--message",
        action="append",
        default=[],
        help="With --chat: the user's next message (not stored). With --character: a "
        "message (repeatable; user and character take turns after the greeting).",
    )
    prm.add_argument(
        "--speaker",
        help="With --chat: the character who replies (a group chat's member; default: the first).",
    )
    prm.add_argument("--format", help="With --character: prompt format (template) name.")
    prm.add_argument("--preset", help="With --character: sampler preset name.")
    prm.add_argument("--user", help="With --character: the user's name (default: the persona).")
    prm.add_argument(
        "--breakdown",
        action="store_true",
        help="Also print each part's tokens (story string, examples, World Info, "
        "recalled memories, story so far, author's note, history …) to stderr.",
    )
    prm.set_defaults(handler=run_prompt, needs_model=True, settings=MODEL_SETTINGS)


def run_prompt(context: AppContext, args: argparse.Namespace) -> int:
    """The exact prompt to stdout; its token count (and breakdown) to stderr."""
    prompt = _stored_chat_prompt(context, args) if args.chat else _new_chat_prompt(context, args)
    sys.stdout.write(prompt.text)
    sys.stdout.flush()
    print(f"\n{prompt.n_tokens} tokens ({prompt.format_name})", file=sys.stderr)
    if args.breakdown:
        for part in context.chat.prompt_parts(prompt):
            print(f"{part.tokens:>7}  {part.label}", file=sys.stderr)
    return 0


def _stored_chat_prompt(context: AppContext, args: argparse.Namespace) -> BuiltPrompt:
    """The next reply's prompt in a stored chat, after ``--message`` (never stored)."""
    for flag in ("format", "preset", "user"):
        if getattr(args, flag):
            raise InputError(f"--{flag}", "only for --character (a stored chat has its own)")
    if len(args.message) > 1:
        raise InputError("--message", "--chat takes one message: the user's next one")
    chat = context.chat.find_chat(args.chat)
    message = args.message[0] if args.message else None
    return context.chat.prompt(chat.id, extra_user_message=message, speaker=args.speaker)


def _new_chat_prompt(context: AppContext, args: argparse.Namespace) -> BuiltPrompt:
    """A new chat with the character: the greeting, then the messages, taking turns."""
    if args.speaker:
        raise InputError("--speaker", "only for --chat (a new chat has one character)")
    character = context.library.find(args.character)
    card = context.library.card(character.id)
    chat = transient_chat(character.id, ChatSettings(preset=args.preset, format=args.format))
    user = args.user or _default_user(context)
    turns = [(Role.ASSISTANT, card.name, card.first_mes)]
    for index, text in enumerate(args.message, 1):
        turns.append((Role.USER, user, text) if index % 2 else (Role.ASSISTANT, card.name, text))
    history = transient_history(turns)
    return context.chat.prompt_for(chat, history, user_name=args.user)


def _default_user(context: AppContext) -> str:
    persona = context.services.personas.default()
    return persona.name if persona else "User"
