"""Banned strings: hold back, roll back to the token where the string began, ban it."""

from __future__ import annotations

from app.engine.banned import BanGuard, Rollback


def test_text_that_cannot_start_a_banned_string_is_released_at_once() -> None:
    guard = BanGuard.of(["shivers down"])
    assert guard.push(1, "Hello") == "Hello"
    assert guard.push(2, " world") == " world"


def test_a_possible_start_is_held_back_until_it_is_clear() -> None:
    guard = BanGuard.of(["shivers down"])
    assert guard.push(1, "It sent") == "It sent"
    assert guard.push(2, " shiv") == ""
    assert guard.push(3, "ering") == " shivering"  # not the banned phrase after all


def test_a_banned_string_across_tokens_rolls_back_to_its_first_token() -> None:
    guard = BanGuard.of(["Shivers Down"])
    assert guard.push(10, "A chill") == "A chill"
    assert guard.push(11, " sent") == " sent"
    assert guard.push(12, " shivers") == ""
    result = guard.push(13, " down")
    assert result == Rollback(drop=2, position=2)
    assert guard.tokens == [10, 11] and guard.text == "A chill sent"
    assert guard.banned_now() == {12}  # the token that began it is banned here
    assert guard.push(14, " goosebumps.") == " goosebumps."
    assert guard.banned_now() == set()
    assert guard.flush() == ""


def test_bans_at_later_positions_are_forgotten_after_a_rollback() -> None:
    guard = BanGuard.of(["xy"])
    guard.push(1, "a")
    assert guard.push(2, "xy") == Rollback(1, 1)
    guard.push(3, "x")
    assert guard.push(4, "y") == Rollback(2, 1)
    assert guard.banned_now() == {2, 3}


def test_inactive_guard_releases_everything() -> None:
    guard = BanGuard.of(["", ""])
    assert not guard.active
