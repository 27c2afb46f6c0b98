"""The reasoning budget on the real model: SmolLM2 thinks inside a prefilled ``<think>``
block until Parlor closes it at the budget, then writes the answer.

SmolLM2 is no reasoning model, which is the point: it never closes the block itself, so
only the budget can end its thinking.  Greedy, with end-of-text banned, so the numbers
are exact.  An imported SillyTavern template's own tags are prefilled and closed the same
way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.chat.turns import Progress
from app.context import AppContext
from app.engine.llamacpp import LlamaCppBackend
from app.storage.types import ChatSettings, ReasoningSettings
from tests.api.live import RecordingBackend
from tests.chat.conftest import write_preset
from tests.chat.test_reasoning_templates import PONDER
from tests.chat.test_service import last
from tests.chat.test_service_model import CARD

pytestmark = pytest.mark.model

BUDGET = 8
LENGTH = 24


def think(
    context: AppContext, smollm: LlamaCppBackend, home: Path, template: str | None = None
) -> tuple[RecordingBackend, Progress, int]:
    """SmolLM2's reply in a new chat thinking ``on`` with the budget (and ``template``)."""
    write_preset(home, "Think", max_new_tokens=LENGTH, temperature=0.0, ban_eos=True)
    backend = RecordingBackend(smollm)
    context.models.use(backend)
    odile = context.library.import_card(json.dumps(CARD).encode(), source_name="odile.json")
    chat = context.chat.new_chat(odile.id)
    reasoning = ReasoningSettings(template=template, thinking="on", budget=BUDGET)
    context.stores.chats.update_settings(chat.id, ChatSettings(preset="Think", reasoning=reasoning))
    return backend, last(context.chat.send(chat.id, "Is the lamp lit every night?")), chat.id


def test_smollm2_thinks_in_a_prefilled_block_that_parlor_closes_at_its_budget(
    context: AppContext, smollm: LlamaCppBackend, _isolated_home: Path
) -> None:
    backend, done, chat_id = think(context, smollm, _isolated_home)

    first, second = backend.requests
    assert first.prompt_text is not None and second.prompt_text is not None
    assert first.prompt_text.endswith("<|im_start|>assistant\n<think>\n")  # prefilled
    assert first.max_new_tokens == BUDGET
    assert backend.finished[0].finish_reason == "length"
    assert backend.finished[0].stats.completion_tokens == BUDGET  # thought to the budget
    thought = backend.finished[0].text
    assert "</think>" not in thought  # the model did not close it
    assert second.prompt_text.startswith(first.prompt_text + thought)
    assert second.prompt_text.endswith("</think>\n\n")  # Parlor closed it
    assert second.max_new_tokens == LENGTH - BUDGET
    assert done.thought.text == thought.strip() and not done.thought.thinking
    assert done.gen_info is not None
    assert done.gen_info.completion_tokens == BUDGET + backend.finished[1].stats.completion_tokens
    stored = done.message
    assert stored is not None
    assert stored.extra["reasoning"] == thought.strip()
    assert stored.content == done.text == backend.finished[1].text.lstrip()
    assert stored.content.strip() and "<think>" not in stored.content
    following = context.chat.prompt(chat_id).text
    assert "</think>" not in following  # the stored block is left out of the next prompt
    assert following.count("<think>") == 1 and following.endswith("<think>\n")


def test_an_imported_sillytavern_template_prefills_and_closes_its_own_tags(
    context: AppContext, smollm: LlamaCppBackend, _isolated_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "Ponder.json"
    path.write_text(json.dumps(PONDER), "utf-8")
    assert context.services.importer.import_file(path).ok
    backend, done, _ = think(context, smollm, _isolated_home, "Ponder")
    first, second = backend.requests
    assert first.prompt_text is not None and second.prompt_text is not None
    assert first.prompt_text.endswith("<|im_start|>assistant\n<ponder>\n")
    thought = backend.finished[0].text
    assert second.prompt_text.startswith(first.prompt_text + thought)
    assert second.prompt_text.endswith("</ponder>\n\n")  # its suffix and separator
    assert done.thought.text == thought.strip()
    assert done.message is not None and done.message.content == done.text
    assert "ponder>" not in done.text and done.text.strip()
