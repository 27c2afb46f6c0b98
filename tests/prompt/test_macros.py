"""Macros: names, card fields, time, dice, random and pick (§5)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.prompt.macros import MacroEngine, MacroEnv, humanize, moment_format, string_hash

NOW = datetime(2024, 6, 19, 14, 20, 5, tzinfo=UTC)


def engine(seed: int = 7) -> MacroEngine:
    return MacroEngine(clock=lambda: NOW, rng=random.Random(seed))


ENV = MacroEnv(
    user="Bob",
    char="Ann",
    description="{{char}} likes {{user}}.",
    personality="calm",
    scenario="A library.",
    persona="A reader.",
    last_message="See you.",
    chat_id="Ann - 2024-06-19",
)


def sub(text: str, **kwargs: object) -> str:
    return engine().substitute(text, ENV, **kwargs)  # type: ignore[arg-type]


def test_names_are_case_insensitive_with_legacy_forms() -> None:
    assert sub("{{user}}/{{USER}}/{{Char}}/<USER>/<bot>/<CHAR>") == "Bob/Bob/Ann/Bob/Ann/Ann"


def test_card_fields_resolve_nested_names() -> None:
    assert sub("{{description}} {{personality}} {{scenario}} {{persona}}") == (
        "Ann likes Bob. calm A library. A reader."
    )


def test_card_fields_left_alone_without_card() -> None:
    assert sub("{{description}} {{char}}", card=False) == "{{description}} Ann"


def test_unknown_macros_stay() -> None:
    assert sub("{{wiBefore}} {{foo::bar}}") == "{{wiBefore}} {{foo::bar}}"


def test_original_expands_once() -> None:
    assert sub("{{original}} and {{ORIGINAL}}", original="BASE") == "BASE and "
    assert sub("{{original}}") == "{{original}}"


def test_newline_trim_noop_and_comments() -> None:
    assert sub("a{{newline}}b") == "a\nb"
    assert sub("x\n\n{{trim}}\ny") == "xy"
    assert sub("a{{noop}}b{{// a comment\nover lines}}c") == "abc"


def test_time_and_date_use_the_clock() -> None:
    assert sub("{{time}}|{{date}}|{{weekday}}|{{isotime}}|{{isodate}}") == (
        "2:20 PM|June 19, 2024|Wednesday|14:20|2024-06-19"
    )
    assert sub("{{datetimeformat DD.MM.YYYY [at] HH:mm}}") == "19.06.2024 at 14:20"
    assert sub("{{time_UTC+2}}") == "4:20 PM"


def test_idle_duration() -> None:
    env = MacroEnv(user="Bob", char="Ann", idle_since=NOW - timedelta(hours=3))
    assert engine().substitute("{{idle_duration}}", env) == "3 hours"
    assert engine().substitute("{{idle_duration}}", ENV) == "just now"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=10), "a few seconds"),
        (timedelta(seconds=80), "a minute"),
        (timedelta(minutes=10), "10 minutes"),
        (timedelta(minutes=50), "an hour"),
        (timedelta(hours=30), "a day"),
        (timedelta(days=10), "10 days"),
        (timedelta(days=40), "a month"),
        (timedelta(days=100), "3 months"),
        (timedelta(days=400), "a year"),
        (timedelta(days=1000), "3 years"),
    ],
)
def test_humanize_matches_moment(delta: timedelta, text: str) -> None:
    assert humanize(delta) == text


def test_last_message() -> None:
    assert sub("{{lastMessage}}") == "See you."


def test_random_forms_pick_from_their_lists() -> None:
    results = {engine(seed).substitute("{{random::a::b::c}}", ENV) for seed in range(40)}
    assert results == {"a", "b", "c"}
    commas = {engine(seed).substitute("{{random: x , y\\,z }}", ENV) for seed in range(40)}
    assert commas == {"x", "y,z"}


def test_random_is_deterministic_with_a_seeded_rng() -> None:
    first = engine(3).substitute("{{random::a::b::c::d}} {{roll:1d20}}", ENV)
    assert engine(3).substitute("{{random::a::b::c::d}} {{roll:1d20}}", ENV) == first


def test_pick_is_stable_per_chat_and_position() -> None:
    text = "{{pick::red::green::blue::black}} {{pick::red::green::blue::black}}"
    picks = {engine(seed).substitute(text, ENV) for seed in range(5)}
    assert len(picks) == 1
    many = [MacroEnv(user="B", char="A", chat_id=f"chat {i}") for i in range(30)]
    assert len({engine().substitute(text, env) for env in many}) > 1


def test_roll() -> None:
    rolls = {int(engine(seed).substitute("{{roll:1d20}}", ENV)) for seed in range(200)}
    assert rolls == set(range(1, 21))
    assert 3 <= int(sub("{{roll:d6+2}}")) <= 8
    assert 1 <= int(sub("{{roll 6}}")) <= 6
    assert sub("{{roll:banana}}") == ""


def test_string_hash_is_cyrb53() -> None:
    assert string_hash("") == 3338908027751811
    assert string_hash("a") == 7929297801672961
    assert string_hash("", 1) != string_hash("")


def test_moment_ordinals() -> None:
    assert moment_format(datetime(2024, 6, 1), "Do MMM") == "1st Jun"
    assert moment_format(datetime(2024, 6, 12), "Do dddd") == "12th Wednesday"
