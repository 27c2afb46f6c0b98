"""A SillyTavern data folder with a group of three and its chats, as SillyTavern 1.12
and newer versions write them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.chat.st_files import card_png

GROUP_ID = "1733040000000"
#: A 1.12 group chat (messages only) and a newer one (``chat_metadata`` header first).
OLD_CHAT = "2025-12-01@10h00m00s"
NEW_CHAT = "2025-12-02@09h30m00s"


def member(name: str, description: str, personality: str, note: str = "") -> dict[str, Any]:
    """A V2 card as SillyTavern writes it (text fields at the top level and in ``data``)."""
    text = {
        "name": name,
        "description": description,
        "personality": personality,
        "scenario": "",
        "first_mes": f"{name} nods to {{{{user}}}}.",
        "mes_example": "",
    }
    depth = {"prompt": note, "depth": 2, "role": "system"}
    extensions = {"talkativeness": "0.5", "fav": False, "world": "", "depth_prompt": depth}
    return {
        **text, "avatar": "none", "talkativeness": "0.5", "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {**text, "system_prompt": "", "post_history_instructions": "", "tags": [],
                 "alternate_greetings": [], "extensions": extensions},
    }  # fmt: skip


MEMBERS = {
    "Ann.png": member("Ann", "Ann bakes bread for {{group}}.", "warm"),
    "Bob.png": member("Bob", "{{char}} mends nets.", "gruff", note="Bob hides a letter."),
    "Cid.png": member("Cid", "Cid rings the bells.", "quiet"),
}

GROUP: dict[str, Any] = {
    "id": GROUP_ID,
    "name": "Harbour",
    "members": ["Ann.png", "Bob.png", "Cid.png"],
    "avatar_url": "",
    "allow_self_responses": False,
    "activation_strategy": 1,
    "generation_mode": 0,
    "disabled_members": ["Cid.png"],
    "chat_metadata": {},
    "fav": False,
    "chat_id": NEW_CHAT,
    "chats": [OLD_CHAT, NEW_CHAT],
    "auto_mode_delay": 5,
    "generation_mode_join_prefix": "[<FIELDNAME> of {{char}}]",
    "generation_mode_join_suffix": "",
    "hideMutedSprites": True,
    "past_metadata": {},
}


def message(name: str, text: str, *, user: bool = False, **more: Any) -> dict[str, Any]:
    """A group chat message with the keys SillyTavern writes."""
    avatar = (
        {}
        if user
        else {
            "original_avatar": f"{name}.png",
            "force_avatar": f"/thumbnail?type=avatar&file={name}.png",
        }
    )
    return {
        "name": name, "is_user": user, "is_system": False,
        "send_date": "December 1, 2025 10:00am", "mes": text, **avatar,
        "extra": {} if user else {"gen_id": 1733040000000.5}, **more,
    }  # fmt: skip


CREATED = {
    "name": "SillyTavern System",
    "force_avatar": "img/five.png",
    "is_user": False,
    "is_system": True,
    "send_date": "December 1, 2025 10:00am",
    "mes": "Group chat created. Say 'Hi' to lovely people!",
    "extra": {"type": "group", "isSmallSys": True},
}

OLD_LINES: list[dict[str, Any]] = [
    CREATED,
    message("Ann", "Ann nods to User."),
    message("Bob", "Bob nods to User."),
    message("User", "Any news from the quay?", user=True),
    message(
        "Ann",
        "The boats are late.",
        swipe_id=1,
        swipes=["The fog is thick.", "The boats are late."],
        swipe_info=[
            {"send_date": "x", "extra": {"gen_id": 1733040000001}},
            {"send_date": "y", "extra": {}},
        ],
        someday_key={"kept": True},
    ),
]
NEW_LINES: list[dict[str, Any]] = [
    {"chat_metadata": {"integrity": "0c9a", "note_prompt": "", "tainted": True}},
    message("Bob", "Bob nods to User."),
    message("User", "Hello, Bob.", user=True),
]


def st_group_folder(root: Path, reference: Path) -> Path:
    """``data/default-user`` with the Llama-3-Instruct-Names templates, three cards, the
    group and its two chats."""
    user = root / "data" / "default-user"
    for kind in ("instruct", "context"):
        (user / kind).mkdir(parents=True)
        name = "Llama-3-Instruct-Names.json"
        shutil.copyfile(reference / kind / name, user / kind / name)
    (user / "characters").mkdir()
    for file_name, card in MEMBERS.items():
        (user / "characters" / file_name).write_bytes(card_png(card))
    (user / "groups").mkdir()
    (user / "groups" / f"{GROUP_ID}.json").write_text(json.dumps(GROUP), "utf-8")
    chats = user / "group chats"
    chats.mkdir()
    for stem, lines in ((OLD_CHAT, OLD_LINES), (NEW_CHAT, NEW_LINES)):
        text = "\n".join(json.dumps(line, separators=(",", ":")) for line in lines)
        (chats / f"{stem}.jsonl").write_text(text, "utf-8")
    return user
