"""Vectorized lorebook entries activate by similarity to the chat, as in SillyTavern."""

from __future__ import annotations

import json

from app.context import AppContext
from app.engine.fake import FakeBackend
from app.storage.memory_types import MemorySettings


def entry(uid: int, content: str, *, vectorized: bool) -> dict[str, object]:
    """A card-book entry whose key never appears in the chat."""
    return {
        "id": uid, "keys": [f"zzq{uid}"], "content": content, "enabled": True,
        "insertion_order": 100, "extensions": {"vectorized": vectorized},
    }  # fmt: skip


CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Wren",
        "description": "Wren pilots a ferry.",
        "first_mes": "Aboard!",
        "character_book": {
            "entries": [
                entry(1, "The Gilded Anchor tavern serves only plum wine.", vectorized=True),
                entry(2, "The old mill by the river grinds barley.", vectorized=True),
                entry(3, "The tavern's cook once sailed with pirates.", vectorized=False),
            ]
        },
    },
}


def test_a_vectorized_entry_is_activated_by_similarity_only(context: AppContext) -> None:
    context.models.use(FakeBackend(n_ctx=8000))
    card = context.library.import_card(json.dumps(CARD).encode(), source_name="wren.json")
    chat = context.chat.new_chat(card.id)
    ask = "What drinks do they serve at the Gilded Anchor tavern?"
    prompt = context.chat.prompt(chat.id, extra_user_message=ask).text
    assert "plum wine" in prompt  # similar enough: activated
    assert "barley" not in prompt  # vectorized, but about something else
    assert "pirates" not in prompt  # not vectorized: only its key would activate it
    context.services.memory.save_settings(chat.id, MemorySettings(enabled=False))
    assert "plum wine" not in context.chat.prompt(chat.id, extra_user_message=ask).text
