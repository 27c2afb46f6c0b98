"""Files in the shapes SillyTavern writes them, for import tests."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def plain_png(rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A 1×1 PNG with no text chunks (a SillyTavern user avatar)."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes(rgb))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def png_with_text(texts: dict[str, bytes]) -> bytes:
    """A 1×1 PNG with one ``tEXt`` chunk per keyword, placed before IEND."""
    image = plain_png()
    iend = image.rindex(b"\x00\x00\x00\x00IEND")
    chunks = b"".join(_chunk(b"tEXt", k.encode("latin-1") + b"\x00" + v) for k, v in texts.items())
    return image[:iend] + chunks + image[iend:]


def card_png(card: dict[str, Any]) -> bytes:
    """A PNG card as SillyTavern's ``write()`` makes it: ``chara`` and ``ccv3`` before IEND."""
    v3 = {**card, "spec": "chara_card_v3", "spec_version": "3.0"}
    return png_with_text(
        {
            "chara": base64.b64encode(json.dumps(card, indent=4).encode()),
            "ccv3": base64.b64encode(json.dumps(v3, indent=4).encode()),
        }
    )


def st_data_folder(root: Path, reference: Path) -> Path:
    """A SillyTavern 1.18 ``data/default-user`` folder for one user, Ada, chatting with Mirelle.

    Reference files are copied where SillyTavern keeps them; the user's own files (card,
    chat, avatars, settings) are written in the shapes SillyTavern writes.
    """
    user = root / "data" / "default-user"
    for kind, names in {
        "instruct": ["Llama 3 Instruct.json", "ChatML.json", "Alpaca.json"],
        "context": ["Llama 3 Instruct.json", "ChatML.json", "Default.json"],
        "sysprompt": ["Roleplay - Simple.json", "Neutral - Chat.json"],
        "TextGen Settings": [],
    }.items():
        (user / kind).mkdir(parents=True)
        for name in names:
            shutil.copyfile(reference / kind / name, user / kind / name)
    for name in ("Universal-Light.json", "Default.json"):
        shutil.copyfile(reference / "textgen" / name, user / "TextGen Settings" / name)
    (user / "worlds").mkdir()
    shutil.copyfile(reference / "cards" / "Eldoria.json", user / "worlds" / "Eldoria.json")
    (user / "characters").mkdir()
    (user / "characters" / "Mirelle.png").write_bytes(card_png(MIRELLE))
    chats = user / "chats" / "Mirelle"
    chats.mkdir(parents=True)
    lines = [json.dumps(line, separators=(",", ":")) for line in MIRELLE_CHAT]
    (chats / "Mirelle - 2025-12-01@10h00m00s.jsonl").write_text("\n".join(lines), "utf-8")
    avatars = user / "User Avatars"
    avatars.mkdir()
    (avatars / "user-default.png").write_bytes(plain_png((90, 90, 90)))
    (avatars / "1733040000000-Ada.png").write_bytes(plain_png((10, 120, 200)))
    settings = _settings(reference)
    (user / "settings.json").write_text(json.dumps(settings, indent=4), "utf-8")
    for folder in (
        "backgrounds",
        "themes",
        "thumbnails",
        "QuickReplies",
        "assets",
        "user",
        "vectors",
    ):
        (user / folder).mkdir()
        (user / folder / "something.json").write_text("{}", "utf-8")
    (user / "secrets.json").write_text('{"api_key_openai": "sk-not-for-parlor"}', "utf-8")
    return user


#: The card text SillyTavern writes twice: at the top level (V1) and under ``data`` (V2).
_MIRELLE_TEXT: dict[str, Any] = {
    "name": "Mirelle",
    "description": "Mirelle is a cartographer of sunken places.",
    "personality": "patient, dry-witted",
    "scenario": "{{user}} brought Mirelle a water-stained map.",
    "first_mes": "*Mirelle unrolls the map.* You found this where?",
    "mes_example": "",
}
MIRELLE: dict[str, Any] = {
    **_MIRELLE_TEXT,
    "creatorcomment": "",
    "avatar": "none",
    "chat": "Mirelle - 2025-12-01@10h00m00s",
    "talkativeness": "0.5",
    "fav": False,
    "tags": [],
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        **_MIRELLE_TEXT,
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "tags": [],
        "creator": "",
        "character_version": "",
        "alternate_greetings": [],
        "extensions": {
            "talkativeness": "0.5",
            "fav": False,
            "world": "",
            "depth_prompt": {"prompt": "", "depth": 4, "role": "system"},
        },
    },
    "create_date": "2025-12-01@09h58m10s",
}

#: The author's note SillyTavern keeps in ``chat_metadata``.
NOTE = "[Mirelle never says where the map leads.]"

MIRELLE_CHAT: list[dict[str, Any]] = [
    {
        "user_name": "Ada",
        "character_name": "Mirelle",
        "create_date": "2025-12-01@10h00m00s",
        "chat_metadata": {
            "integrity": "5b3f0c1e-7f0a-4d55-9d0b-3c5d8e2a1f00",
            "tainted": True,
            "note_prompt": NOTE,
            "note_interval": 1,
            "note_position": 1,
            "note_depth": 1,
            "note_role": 0,
            "lastInContextMessageId": 0,
        },
    },
    {
        "name": "Mirelle",
        "is_user": False,
        "is_system": False,
        "send_date": "2025-12-01T10:00:00.000Z",
        "mes": "*Mirelle unrolls the map.* You found this where?",
        "extra": {},
    },
    {
        "name": "Ada",
        "is_user": True,
        "is_system": False,
        "send_date": "2025-12-01T10:00:12.345Z",
        "mes": "In the reeds below the old mill.",
        "extra": {"isSmallSys": False},
        "force_avatar": "User Avatars/1733040000000-Ada.png",
    },
    {
        "extra": {"api": "textgenerationwebui", "model": "L3-70B-Euryale-v2.1"},
        "name": "Mirelle",
        "is_user": False,
        "send_date": "2025-12-01T10:00:20.000Z",
        "mes": "The mill. Of course it was the mill.",
        "gen_started": "2025-12-01T10:00:14.000Z",
        "gen_finished": "2025-12-01T10:00:20.000Z",
        "swipe_id": 0,
        "swipes": ["The mill. Of course it was the mill."],
        "swipe_info": [
            {
                "send_date": "2025-12-01T10:00:20.000Z",
                "gen_started": "2025-12-01T10:00:14.000Z",
                "gen_finished": "2025-12-01T10:00:20.000Z",
                "extra": {"api": "textgenerationwebui", "model": "L3-70B-Euryale-v2.1"},
            }
        ],
    },
    {
        "name": "Ada",
        "is_user": True,
        "is_system": False,
        "send_date": "2025-12-01T10:01:02.000Z",
        "mes": "Can you read it?",
        "extra": {"isSmallSys": False},
    },
]

#: Ada's persona description (``power_user.persona_descriptions``).
ADA = "Ada is a mill-keeper's daughter with muddy boots."


def _settings(reference: Path) -> dict[str, Any]:
    """The reference ``settings.json`` with Ada's active setup, as SillyTavern saves it."""
    settings: dict[str, Any] = json.loads((reference / "settings.json").read_text("utf-8"))
    instruct = json.loads((reference / "instruct" / "Llama 3 Instruct.json").read_text("utf-8"))
    context = json.loads((reference / "context" / "Llama 3 Instruct.json").read_text("utf-8"))
    sysprompt = json.loads((reference / "sysprompt" / "Roleplay - Simple.json").read_text("utf-8"))
    textgen = json.loads((reference / "textgen" / "Universal-Light.json").read_text("utf-8"))
    power = settings["power_user"]
    power["instruct"] = {"enabled": True, **instruct, "preset": instruct.pop("name")}
    power["context"] = {**context, "preset": context.pop("name")}
    power["sysprompt"] = {"enabled": True, **sysprompt}
    power["personas"] = {"user-default.png": "User", "1733040000000-Ada.png": "Ada"}
    power["persona_descriptions"] = {
        "1733040000000-Ada.png": {"description": ADA, "position": 0, "depth": 2, "role": 0},
    }
    power["default_persona"] = "1733040000000-Ada.png"
    settings.update(
        username="Ada",
        user_avatar="1733040000000-Ada.png",
        main_api="textgenerationwebui",
        textgenerationwebui_settings={**textgen, "preset": "Universal-Light", "type": "llamacpp"},
        firstRun=False,
    )
    return settings
