"""Who replies in a group chat: natural, list, manual and pooled (dice pinned)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from app.chat.group_strategy import Candidate, Turn, reply_order
from app.storage.group_types import ReplyStrategy

ANN, BOB, CID = Candidate(1, "Ann"), Candidate(2, "Bob Stone"), Candidate(3, "Cid", muted=True)
MEMBERS = [ANN, BOB, CID]


def order(
    strategy: ReplyStrategy,
    history: Sequence[Turn] = (),
    text: str = "",
    *,
    members: Sequence[Candidate] = MEMBERS,
    allow_self: bool = False,
    seed: int = 7,
) -> list[int]:
    return reply_order(
        strategy, members, history, text,
        allow_self=allow_self, user_input=bool(text), rng=random.Random(seed),
    )  # fmt: skip


def test_list_is_every_unmuted_member_in_order_and_manual_is_nobody() -> None:
    assert order(ReplyStrategy.LIST, text="hi") == [1, 2]
    assert order(ReplyStrategy.MANUAL, text="hi") == []


def test_natural_answers_a_mention_first_and_never_lets_a_muted_member_speak() -> None:
    silent = [Candidate(1, "Ann", talkativeness=0.0), Candidate(2, "Bob Stone", talkativeness=0.0)]
    for seed in range(20):
        picked = order(ReplyStrategy.NATURAL, text="stone, are you there?",
                       members=[*silent, CID], seed=seed)  # fmt: skip
        assert picked == [2]  # the mention, nobody else (talkativeness 0), never Cid


def test_natural_skips_the_last_speaker_unless_self_responses_are_allowed() -> None:
    chatty = [Candidate(1, "Ann", talkativeness=1.0), Candidate(2, "Bob", talkativeness=1.0)]
    last = [Turn("User", True), Turn("Ann", False)]
    assert order(ReplyStrategy.NATURAL, last, members=chatty) == [2]
    assert sorted(order(ReplyStrategy.NATURAL, last, members=chatty, allow_self=True)) == [1, 2]


def test_pooled_picks_one_who_has_not_spoken_since_the_user() -> None:
    history = [Turn("User", True), Turn("Ann", False)]
    assert all(order(ReplyStrategy.POOLED, history, seed=seed) == [2] for seed in range(10))
    everyone = [Turn("User", True), Turn("Ann", False), Turn("Bob Stone", False)]
    assert order(ReplyStrategy.POOLED, everyone) == [1]  # anyone but the last speaker
