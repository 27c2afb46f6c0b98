"""World Info activation (§1.6)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from app.prompt.formats import Role
from app.prompt.worldinfo import (
    SelectiveLogic,
    WIEntry,
    WIPosition,
    WIResult,
    WIScanData,
    WISettings,
    WorldInfoScanner,
    parse_regex_key,
)


def scan(
    entries: Sequence[WIEntry],
    chat: Sequence[str],
    *,
    settings: WISettings | None = None,
    max_context: int = 10_000,
    seed: int = 0,
    data: WIScanData | None = None,
) -> WIResult:
    scanner = WorldInfoScanner(
        settings=settings or WISettings(), count_tokens=len, rng=random.Random(seed)
    )
    return scanner.scan(
        entries, chat, max_context=max_context, data=data or WIScanData(), chat_length=len(chat)
    )


def uids(result: WIResult) -> set[int | str]:
    return {e.uid for e in result.activated}


def test_keys_match_case_insensitively_in_scan_depth() -> None:
    entries = [
        WIEntry(1, ("Dragon",), "D"),
        WIEntry(2, ("castle",), "C"),
        WIEntry(3, ("moon",), "M"),
    ]
    chat = ["Bob: a dragon!", "Ann: the Castle", "Bob: the moon"]
    assert uids(scan(entries, chat)) == {1, 2}
    assert uids(scan(entries, chat, settings=WISettings(depth=1))) == {1}
    assert uids(scan([WIEntry(3, ("moon",), "M", scan_depth=3)], chat)) == {3}


def test_case_sensitive_and_whole_words() -> None:
    chat = ["Bob: the cathedral and a Cat"]
    assert uids(scan([WIEntry(1, ("cat",), "x")], chat)) == {1}
    assert uids(scan([WIEntry(1, ("cat",), "x", case_sensitive=True)], chat)) == set()
    assert uids(scan([WIEntry(1, ("cath",), "x")], chat)) == set()
    assert uids(scan([WIEntry(1, ("cath",), "x", match_whole_words=False)], chat)) == {1}
    assert uids(scan([WIEntry(1, ("and a",), "x")], chat)) == {1}


def test_regex_keys() -> None:
    chat = ["Bob: I saw DRAGONS"]
    assert uids(scan([WIEntry(1, ("/dragons?/i",), "x")], chat)) == {1}
    assert uids(scan([WIEntry(1, ("/dragons?/",), "x")], chat)) == set()
    assert parse_regex_key("/a/b/") is None
    assert parse_regex_key("plain") is None
    assert parse_regex_key("/(?<name>x)/") is not None


def test_names_are_part_of_the_scanned_text() -> None:
    assert uids(scan([WIEntry(1, ("Bob",), "x")], ["Bob: hello"])) == {1}


def test_secondary_key_logic() -> None:
    chat = ["Bob: the red dragon sleeps"]

    def entry(logic: SelectiveLogic, secondary: tuple[str, ...]) -> WIEntry:
        return WIEntry(1, ("dragon",), "x", secondary_keys=secondary, selective_logic=logic)

    assert uids(scan([entry(SelectiveLogic.AND_ANY, ("red", "blue"))], chat)) == {1}
    assert uids(scan([entry(SelectiveLogic.AND_ANY, ("blue",))], chat)) == set()
    assert uids(scan([entry(SelectiveLogic.AND_ALL, ("red", "sleeps"))], chat)) == {1}
    assert uids(scan([entry(SelectiveLogic.AND_ALL, ("red", "blue"))], chat)) == set()
    assert uids(scan([entry(SelectiveLogic.NOT_ANY, ("blue", "green"))], chat)) == {1}
    assert uids(scan([entry(SelectiveLogic.NOT_ANY, ("red",))], chat)) == set()
    assert uids(scan([entry(SelectiveLogic.NOT_ALL, ("red", "blue"))], chat)) == {1}
    assert uids(scan([entry(SelectiveLogic.NOT_ALL, ("red", "sleeps"))], chat)) == set()


def test_constant_disabled_and_no_keys() -> None:
    entries = [
        WIEntry(1, (), "always", constant=True),
        WIEntry(2, ("dragon",), "off", enabled=False),
        WIEntry(3, (), "never"),
    ]
    assert uids(scan(entries, ["Bob: dragon"])) == {1}


def test_positions_and_order() -> None:
    entries = [
        WIEntry(1, (), "B-low", constant=True, order=10, position=WIPosition.BEFORE),
        WIEntry(2, (), "B-high", constant=True, order=90, position=WIPosition.BEFORE),
        WIEntry(3, (), "After", constant=True, position=WIPosition.AFTER),
        WIEntry(4, (), "Top", constant=True, position=WIPosition.AN_TOP),
        WIEntry(5, (), "Bottom", constant=True, position=WIPosition.AN_BOTTOM),
        WIEntry(6, (), "D1", constant=True, order=5, position=WIPosition.AT_DEPTH, depth=2),
        WIEntry(7, (), "D2", constant=True, order=6, position=WIPosition.AT_DEPTH, depth=2),
        WIEntry(8, (), "U", constant=True, position=WIPosition.AT_DEPTH, depth=2, role=Role.USER),
        WIEntry(9, (), "<START>\nEx", constant=True, position=WIPosition.EM_TOP),
        WIEntry(10, (), "Out", constant=True, position=WIPosition.OUTLET, outlet_name="o"),
    ]
    result = scan(entries, ["Bob: hi"])
    assert result.before == "B-low\nB-high"
    assert result.after == "After"
    assert result.an_top == ("Top",) and result.an_bottom == ("Bottom",)
    assert [(d.depth, d.role, d.entries) for d in result.depth] == [
        (2, Role.USER, ("U",)),
        (2, Role.SYSTEM, ("D1", "D2")),
    ]
    assert result.examples == ((WIPosition.EM_TOP, "<START>\nEx"),)
    assert result.outlets == {"o": "Out"}


def test_budget_is_a_share_of_the_prompt_budget() -> None:
    entries = [
        WIEntry(1, (), "a" * 10, constant=True, order=300),
        WIEntry(2, (), "b" * 10, constant=True, order=200),
        WIEntry(3, (), "c" * 10, constant=True, order=100, ignore_budget=True),
    ]
    assert uids(scan(entries, ["x"], max_context=80)) == {1, 3}
    assert uids(scan(entries, ["x"], max_context=1000)) == {1, 2, 3}
    assert uids(scan(entries, ["x"], max_context=1000, settings=WISettings(budget_cap=15))) == {
        1,
        3,
    }


def test_recursion_and_prevent_recursion() -> None:
    entries = [
        WIEntry(1, ("dragon",), "Dragons live in the castle."),
        WIEntry(2, ("castle",), "The castle is old."),
    ]
    assert uids(scan(entries, ["Bob: a dragon"])) == {1, 2}
    assert uids(scan(entries, ["Bob: a dragon"], settings=WISettings(recursive=False))) == {1}
    stopped = [WIEntry(1, ("dragon",), "castle", prevent_recursion=True), entries[1]]
    assert uids(scan(stopped, ["Bob: a dragon"])) == {1}
    excluded = [entries[0], WIEntry(2, ("castle",), "x", exclude_recursion=True)]
    assert uids(scan(excluded, ["Bob: a dragon"])) == {1}


def test_probability_uses_the_injected_rng() -> None:
    entries = [WIEntry(i, (), f"e{i}", constant=True, probability=50) for i in range(40)]
    first = uids(scan(entries, ["x"], seed=5))
    assert first == uids(scan(entries, ["x"], seed=5))
    assert 0 < len(first) < 40
    assert uids(scan([WIEntry(1, (), "x", constant=True, probability=0)], ["x"])) == set()


def test_inclusion_group_keeps_one_entry() -> None:
    entries = [
        WIEntry(1, (), "a", constant=True, group="g", order=1),
        WIEntry(2, (), "b", constant=True, group="g", order=2, group_override=True),
        WIEntry(3, (), "c", constant=True, group="g", order=3),
    ]
    assert uids(scan(entries, ["x"])) == {2}
    plain = [WIEntry(i, (), str(i), constant=True, group="g") for i in range(5)]
    assert len(scan(plain, ["x"], seed=9).activated) == 1


def test_match_flags_scan_card_fields() -> None:
    data = WIScanData(character_description="A knight of the order.")
    entry = WIEntry(1, ("knight",), "x", match_character_description=True)
    assert uids(scan([entry], ["Bob: hi"], data=data)) == {1}
    assert uids(scan([WIEntry(1, ("knight",), "x")], ["Bob: hi"], data=data)) == set()


def test_decorators_and_triggers() -> None:
    entries = [
        WIEntry(1, ("zzz",), "@@activate\nForced"),
        WIEntry(2, ("dragon",), "@@dont_activate\nNever"),
        WIEntry(3, ("dragon",), "Only on continue", triggers=("continue",)),
    ]
    result = scan(entries, ["Bob: dragon"])
    assert uids(result) == {1}
    assert result.before == "Forced"


def test_delay_needs_enough_messages() -> None:
    entry = WIEntry(1, (), "late", constant=True, delay=3)
    assert uids(scan([entry], ["a", "b"])) == set()
    assert uids(scan([entry], ["a", "b", "c"])) == {1}


def test_sticky_and_cooldown_state() -> None:
    entry = WIEntry(1, ("dragon",), "x", world="w")
    scanner = WorldInfoScanner(
        settings=WISettings(), count_tokens=len, rng=random.Random(0), sticky=frozenset({"w.1"})
    )
    assert uids(scanner.scan([entry], ["Bob: nothing"], max_context=1000)) == {1}
    cooling = WorldInfoScanner(
        settings=WISettings(), count_tokens=len, rng=random.Random(0), cooldown=frozenset({"w.1"})
    )
    assert uids(cooling.scan([entry], ["Bob: dragon"], max_context=1000)) == set()


def test_min_activations_widens_the_scan() -> None:
    chat = ["Bob: hello", "Ann: hi", "Bob: the dragon"]
    entry = WIEntry(1, ("dragon",), "x")
    assert uids(scan([entry], chat)) == set()
    assert uids(scan([entry], chat, settings=WISettings(min_activations=1))) == {1}
