"""Idle prefill on the real SmolLM2: after a round, the waiting members' KV slots catch
up in the background, so the next member's turn after the user's message evaluates
about as many tokens as a same-speaker turn (token counts, never times)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.context import AppContext
from app.storage.group_types import ReplyStrategy
from tests.api.live import RecordingBackend
from tests.chat.test_group_model import finished, make_group

pytestmark = pytest.mark.model
MESSAGE = "What news from the quay?"


def test_prefilled_members_evaluate_only_the_users_message(
    context: AppContext, recorded: RecordingBackend, _isolated_home: Path
) -> None:
    chat_id, (ann, _bob, cid) = make_group(context, _isolated_home)
    groups = context.services.groups
    prefill = groups.prefill
    assert prefill is not None
    finished(list(groups.send(chat_id, "Good evening, all of you.")))
    assert prefill.wait_idle(300)
    # Ann's and Bob's slots caught up with the round (Cid spoke last: its cache is live).
    fills = [r for r in recorded.requests if r.background]
    assert [r.cache_key for r in fills] == [f"chat {chat_id} member {n}" for n in ("Ann", "Bob")]
    assert prefill.evaluated > 0 and all(r.max_new_tokens == 0 for r in fills)

    second = finished(list(groups.send(chat_id, MESSAGE)))
    assert second[0].character_id == ann
    after_fill = second[0].progress.gen_info
    assert prefill.wait_idle(300)

    group = groups.group_of(chat_id)
    assert group is not None
    manual = replace(group.settings, strategy=ReplyStrategy.MANUAL)
    groups.update(group.id, settings=manual)
    assert finished(list(groups.send(chat_id, MESSAGE))) == []  # manual: nobody yet
    (same_speaker,) = finished(list(groups.speak(chat_id, cid)))  # Cid spoke last
    baseline = same_speaker.progress.gen_info

    assert after_fill is not None and baseline is not None
    # Ann's turn evaluated the user's message and her header, as Cid's own next turn did
    # (without the fill it would also evaluate Bob's and Cid's replies).
    assert after_fill.tokens_evaluated <= baseline.tokens_evaluated + 2, (after_fill, baseline)
