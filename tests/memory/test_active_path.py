"""Only the active path is recalled: edited-away text and other swipes never come back.

The real embedder searches; the fake backend (one token per character) makes a small
context so that early messages leave the prompt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from app.context import AppContext
from app.engine.fake import FakeBackend
from app.storage.types import Role
from tests.chat.test_service import last
from tests.paths import REPO_ROOT

TOPICS = (
    "the lighthouse keeper's cat", "a storm that broke three masts", "the fishmonger's debts",
    "a lost glove on the quay", "the church bells at noon", "cheap rum from the south",
    "a fiddler who played all night", "the harbour master's new hat", "mackerel season",
    "the ferry timetable", "a rowing race", "tar on the planks", "the mayor's speech",
)  # fmt: skip


CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {"name": "Wren", "description": "Wren pilots a slow ferry.", "first_mes": "Aboard!"},
}


def chat_with(context: AppContext, texts: dict[int, str], n: int = 40) -> list[int]:
    """A chat of ``n`` messages, ``texts`` at their indexes and small talk elsewhere."""
    card = context.library.import_card(json.dumps(CARD).encode(), source_name="wren.json")
    chat = context.chat.new_chat(card.id)
    chats = context.stores.chats
    ids = [chats.active_path(chat.id)[-1].id]
    for i in range(1, n):
        user = i % 2 == 1
        topic = TOPICS[i % len(TOPICS)]
        text = texts.get(i) or f"Have you heard anything about {topic}? It was all anyone said."
        role, speaker = (Role.USER, "User") if user else (Role.ASSISTANT, "Wren")
        ids.append(chats.add_message(chat.id, ids[-1], role=role, speaker=speaker, content=text).id)
    return ids


def test_edited_away_text_and_other_swipes_are_never_recalled(context: AppContext) -> None:
    context.models.use(FakeBackend(n_ctx=1500))
    ids = chat_with(
        context,
        {
            3: "The treasure is buried beneath the old oak tree by the mill.",
            6: "Nothing much happened at the market today, just the usual crowd.",
            9: "My grey horse is named Thunderbolt and he hates the rain.",
        },
    )
    chat_id = context.stores.chats.get_message(ids[0]).chat_id
    memory = context.services.memory
    assert memory.index(chat_id) == 40 and memory.pending(chat_id) == 0
    context.chat.edit(ids[3], "I forgot what I wanted to tell you about.")
    password = "The secret password of the guild is swordfish."
    swipe = context.chat.edit(ids[6], password, as_swipe=True)
    assert context.chat.swipe(swipe.id, -1).shown is not None  # back to the first text
    assert memory.pending(chat_id) == 1  # the edited message is embedded again

    def prompt_for(question: str) -> str:
        return context.chat.prompt(chat_id, extra_user_message=question).text

    horse = prompt_for("What is my horse called?")
    assert "Thunderbolt" in horse and "Past events" in horse
    assert "oak tree" not in prompt_for("Where is the treasure buried?")
    assert "swordfish" not in prompt_for("What is the secret password of the guild?")
    assert memory.pending(chat_id) == 0


def test_a_reply_in_a_long_chat_recalls_and_is_indexed(context: AppContext) -> None:
    fake = FakeBackend(n_ctx=1500)
    context.models.use(fake)
    ids = chat_with(context, {5: "My grey horse is named Thunderbolt and he hates the rain."})
    chat_id = context.stores.chats.get_message(ids[0]).chat_id
    fake.enqueue(["He is called Thunderbolt, you told me."])
    reply = last(context.chat.send(chat_id, "Do you remember my horse's name?"))
    assert "Thunderbolt" in fake.requests[-1].prompt_text
    assert reply.message is not None
    overview = context.services.memory.overview(chat_id)
    assert overview.messages >= 40
    assert any("Thunderbolt" in hit.text for hit in overview.recalled)
    assert overview.block in fake.requests[-1].prompt_text


def test_memory_never_loads_torch_until_something_left_the_context() -> None:
    script = textwrap.dedent(
        """
        import sys, tempfile
        from pathlib import Path
        from app.context import build_context
        from app.engine.fake import FakeBackend
        from app.settings import Settings
        from app.storage.memory_types import MemorySettings
        from app.storage.types import Role

        ctx = build_context(Settings.load(data_dir=Path(tempfile.mkdtemp())), load_model=False)
        fake = FakeBackend(n_ctx=1500)
        ctx.models.use(fake)
        card = b'{"name": "Wren", "description": "A ferry pilot.", "first_mes": "Aboard!"}'
        character = ctx.library.import_card(card, source_name="wren.json").id
        short = ctx.chat.new_chat(character)
        fake.enqueue(["Hello."])
        list(ctx.chat.send(short.id, "Hi!"))
        long = ctx.chat.new_chat(character)
        ctx.services.memory.save_settings(long.id, MemorySettings(enabled=False))
        for turn in range(12):
            fake.enqueue(["A long answer " * 5])
            list(ctx.chat.send(long.id, "A long question " * 5))
        prompt = ctx.chat.prompt(long.id)
        print("requests:", len(fake.requests), "in context:", prompt.messages_in_context)
        loaded = sorted(m for m in ("torch", "sentence_transformers") if m in sys.modules)
        print("loaded:", loaded)
        ctx.close()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "requests: 13 in context:" in result.stdout and "loaded: []" in result.stdout
    in_context = int(result.stdout.split("in context:")[1].split()[0])
    assert 0 < in_context < 25  # older messages left the context
