"""SillyTavern chat files (``.jsonl``) as a pure structure: parse, check and write back.

This layer knows nothing of the database; :mod:`app.storage.st_chats` maps the structure
to and from Parlor's message tree.
"""

from app.chatfile.jsjson import js_stringify
from app.chatfile.model import STChat, STMessage
from app.chatfile.parse import dump_chat, parse_chat, read_chat_file, write_chat_file
from app.chatfile.timestamps import format_timestamp, parse_timestamp

__all__ = [
    "STChat",
    "STMessage",
    "dump_chat",
    "format_timestamp",
    "js_stringify",
    "parse_chat",
    "parse_timestamp",
    "read_chat_file",
    "write_chat_file",
]
