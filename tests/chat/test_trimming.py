"""History trimming: minimal where the cache can shift, in chunks where it cannot."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from app.context import AppContext
from app.engine.fake import FakeBackend
from app.engine.llamacpp import LlamaCppBackend, LoadOptions
from app.storage.memory_types import MemorySettings
from app.storage.types import ChatSettings
from tests.chat.conftest import write_preset
from tests.chat.test_service import character_id, last

TURNS = 24
#: Long-term memory would bring trimmed messages back; these tests are about trimming.
NO_MEMORY = MemorySettings(enabled=False)
#: A card without a lorebook: nothing above the history changes from turn to turn.
PLAIN_CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Wren",
        "description": "Wren pilots a slow ferry across a wide brown river.",
        "first_mes": 'The ferry bumps the dock. "Going across?"',
        "mes_example": "<START>\n{{user}}: Is it far?\n{{char}}: *shrugs* Far enough.",
    },
}


def common_prefix(a: str, b: str) -> int:
    """Length of the text ``a`` and ``b`` start with."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def play(context: AppContext, backend: FakeBackend) -> tuple[list[int], list[str]]:
    """Play TURNS turns; the oldest user message in each prompt, and the prompts."""
    context.models.use(backend)
    chat = context.chat.new_chat(character_id(context))
    context.services.memory.save_settings(chat.id, NO_MEMORY)  # trimming alone
    oldest, prompts = [], []
    for turn in range(TURNS):
        backend.enqueue([f"r{turn:02d} " + "x" * 300])
        last(context.chat.send(chat.id, f"u{turn:02d} " + "y" * 300))
        prompt = backend.requests[-1].prompt_text
        oldest.append(min(t for t in range(turn + 1) if f"u{t:02d} " in prompt))
        prompts.append(prompt)
    return oldest, prompts


def test_where_the_cache_shifts_history_is_trimmed_as_sillytavern_does(
    context: AppContext,
) -> None:
    oldest, _ = play(context, FakeBackend(n_ctx=6000, can_shift=True))
    trims = [b - a for a, b in pairwise(oldest) if b != a]
    assert oldest[-1] > 8 and len(trims) >= TURNS - 6 and max(trims) == 1, oldest


def test_where_the_cache_cannot_shift_history_is_trimmed_in_chunks(context: AppContext) -> None:
    oldest, prompts = play(context, FakeBackend(n_ctx=6000, can_shift=False))
    trims = [b - a for a, b in pairwise(oldest) if b != a]
    assert oldest[-1] > 8 and 2 <= len(trims) <= TURNS // 3 and max(trims) >= 3, oldest
    for turn in range(1, TURNS):
        head = common_prefix(prompts[turn - 1], prompts[turn])
        if oldest[turn] == oldest[turn - 1] > 0:  # held: the next prompt extends the last
            assert head == len(prompts[turn - 1]), turn
        elif oldest[turn] != oldest[turn - 1]:  # a trim: the old history goes, the story stays
            assert 0 < head < len(prompts[turn - 1]), turn


@pytest.mark.model
@pytest.mark.slow
def test_a_real_model_without_shift_reevaluates_only_at_the_chunk_trims(
    context: AppContext, smollm_path: Path, _isolated_home: Path
) -> None:
    """SmolLM2 can shift; with shifting turned off, its cache keeps the held head."""
    write_preset(_isolated_home, "Short", max_new_tokens=8, temperature=0.0)
    backend = context.models.load(smollm_path, LoadOptions(n_ctx=1024, threads=2))
    assert isinstance(backend, LlamaCppBackend)
    backend.kv.can_shift = False
    wren = context.library.import_card(json.dumps(PLAIN_CARD).encode(), source_name="wren.json")
    chat = context.chat.new_chat(wren.id)
    context.stores.chats.update_settings(chat.id, ChatSettings(preset="Short"))
    context.services.memory.save_settings(chat.id, NO_MEMORY)
    reused, evaluated = [], []
    for turn in range(22):
        done = last(context.chat.send(chat.id, f"u{turn:02d} " + "tell me more. " * 12))
        assert done.gen_info is not None
        reused.append(done.gen_info.tokens_reused or 0)
        evaluated.append(done.gen_info.tokens_evaluated or 0)
    full = [t for t, (r, e) in enumerate(zip(reused, evaluated, strict=True)) if e > r]
    # the first turn, then a chunk trim every few turns (without chunks: every turn from 12)
    assert 2 <= len(full) <= 4, (reused, evaluated)
    assert sum(evaluated) < sum(reused), (reused, evaluated)
