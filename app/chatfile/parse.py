"""Read and write SillyTavern chat files (``.jsonl``).

SillyTavern writes ``lines.map(JSON.stringify).join('\\n')``: compact JSON, one object a
line, line 0 the header, no trailing newline.  Reading here is strict where SillyTavern is
silently lossy: a line that is not JSON (a file cut off mid-write) or a field of the wrong
type raises :class:`app.errors.ChatFileError` naming the file and line, instead of being
dropped.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from app.chatfile.jsjson import js_stringify
from app.chatfile.model import JSONDict, STChat, STMessage
from app.errors import ChatFileError

_HEADER_KEYS = ("chat_metadata", "user_name", "name")
_STR_FIELDS = ("name", "mes", "title", "force_avatar", "original_avatar")
_BOOL_FIELDS = ("is_user", "is_system", "is_name")
_TIME_FIELDS = ("send_date", "gen_started", "gen_finished")


def parse_chat(text: str, source: str = "<chat>", *, headerless: bool = False) -> STChat:
    """Parse the text of a chat file; ``source`` names it in errors.

    With ``headerless``, a file whose first line is a message (a SillyTavern 1.12 group
    chat) is read as messages only; its header is then ``{}``, and stays left out when
    the chat is written.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    numbered = [
        (number, line.rstrip("\r"))
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]
    if not numbered:
        raise ChatFileError(source, "empty chat file")
    first_number, first_line = numbered[0]
    header = _load_object(first_line, source, first_number)
    if headerless and _is_message(header):
        header = {}
    else:
        _check_header(header, source, first_number)
        numbered = numbered[1:]
    messages = []
    for number, line in numbered:
        raw = _load_object(line, source, number)
        _check_message(raw, f"{source}:{number}")
        messages.append(STMessage(raw))
    return STChat(header=header, messages=tuple(messages))


def read_chat_file(path: Path, *, headerless: bool = False) -> STChat:
    """Read a ``.jsonl`` chat file; the chat's name is the file name without suffix.

    ``headerless``: the file may have no header line (see :func:`parse_chat`).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ChatFileError(str(path), f"cannot read file ({exc.strerror})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChatFileError(str(path), f"not UTF-8 text at byte {exc.start}") from exc
    chat = parse_chat(text, str(path), headerless=headerless)
    return STChat(header=chat.header, messages=chat.messages, name=path.stem)


def dump_chat(chat: STChat) -> str:
    """Return the file text SillyTavern would write for ``chat``."""
    lines = [js_stringify(chat.header)] if chat.header else []
    lines.extend(js_stringify(message.raw) for message in chat.messages)
    return "\n".join(lines)


def write_chat_file(path: Path, chat: STChat) -> None:
    """Write ``chat`` to ``path`` atomically (temporary file, fsync, rename)."""
    data = dump_chat(chat).encode("utf-8")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load_object(line: str, source: str, number: int) -> JSONDict:
    try:
        value = json.loads(line, parse_constant=_reject_constant)
    except RecursionError:
        raise ChatFileError(f"{source}:{number}", "JSON is nested too deeply") from None
    except ValueError as exc:
        problem = f"not valid JSON ({exc}); the line may be cut off"
        raise ChatFileError(f"{source}:{number}", problem) from exc
    if not isinstance(value, dict):
        raise ChatFileError(f"{source}:{number}", "expected a JSON object")
    return value


def _is_message(line: JSONDict) -> bool:
    """Whether a line is a message, not a header."""
    return "mes" in line and not ("chat_metadata" in line or "user_name" in line)


def _check_header(header: JSONDict, source: str, number: int) -> None:
    where = f"{source}:{number}"
    if _is_message(header) or not any(key in header for key in _HEADER_KEYS):
        raise ChatFileError(where, "first line is not a chat header (no chat_metadata)")
    metadata = header.get("chat_metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ChatFileError(where, "chat_metadata must be an object")
    for key in ("user_name", "character_name"):
        if key in header and not isinstance(header[key], str):
            raise ChatFileError(where, f"{key} must be a string")


def _check_message(raw: JSONDict, where: str) -> None:
    for key in _STR_FIELDS:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise ChatFileError(where, f"{key} must be a string")
    for key in _BOOL_FIELDS:
        if raw.get(key) is not None and not isinstance(raw[key], bool):
            raise ChatFileError(where, f"{key} must be true or false")
    for key in _TIME_FIELDS:
        value = raw.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            raise ChatFileError(where, f"{key} must be a date string or a number")
    if raw.get("extra") is not None and not isinstance(raw["extra"], dict):
        raise ChatFileError(where, "extra must be an object")
    _check_swipes(raw, where)


def _check_swipes(raw: JSONDict, where: str) -> None:
    swipes = raw.get("swipes")
    if swipes is not None and not (
        isinstance(swipes, list) and all(isinstance(s, str) for s in swipes)
    ):
        raise ChatFileError(where, "swipes must be a list of strings")
    swipe_id = raw.get("swipe_id")
    if swipe_id is not None and (isinstance(swipe_id, bool) or not isinstance(swipe_id, int)):
        raise ChatFileError(where, "swipe_id must be an integer")
    info = raw.get("swipe_info")
    if info is not None and not (
        isinstance(info, list) and all(isinstance(i, dict) or i is None for i in info)
    ):
        raise ChatFileError(where, "swipe_info must be a list of objects")
