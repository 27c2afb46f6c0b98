"""app.chatfile: SillyTavern JSONL parsing, writing, timestamps and JSON.stringify output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.chatfile import (
    STChat,
    STMessage,
    dump_chat,
    format_timestamp,
    js_stringify,
    parse_chat,
    parse_timestamp,
    read_chat_file,
    write_chat_file,
)
from app.errors import ChatFileError

HEADER = (
    '{"chat_metadata":{"integrity":"0f1c7a7e","tainted":true},'
    '"user_name":"unused","character_name":"unused"}'
)
GREETING = (
    '{"name":"Seraphina","is_user":false,"is_system":false,'
    '"send_date":"2025-12-01T10:00:00.000Z","mes":"*You wake.*","extra":{}}'
)
USER = (
    '{"name":"User","is_user":true,"is_system":false,"send_date":"2025-12-01T10:00:12.345Z",'
    '"mes":"Where am I?","extra":{"isSmallSys":false}}'
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (1e-6, "0.000001"),
        (1.25e-6, "0.00000125"),
        (1e-7, "1e-7"),
        (1.23e-18, "1.23e-18"),
        (5e-324, "5e-324"),
        (-2.5e-9, "-2.5e-9"),
        (123456.789, "123456.789"),
        (float("nan"), "null"),
        (float("inf"), "null"),
    ],
)
def test_numbers_as_javascript_writes_them(value: float, expected: str) -> None:
    assert js_stringify(value) == expected


def test_strings_keys_and_nesting_as_javascript_writes_them() -> None:
    assert js_stringify({"b": 1, "2": 2, "1": [True, None], "01": "x"}) == (
        '{"1":[true,null],"2":2,"b":1,"01":"x"}'
    )
    assert js_stringify('a\u2028b\x7f\x00\n"\\é😀') == '"a\u2028b\x7f\\u0000\\n\\"\\\\é😀"'
    assert js_stringify("\ud800x") == '"\\ud800x"'
    assert js_stringify([]) == "[]" and js_stringify({}) == "{}"
    with pytest.raises(TypeError):
        js_stringify({"a": {1, 2}})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet="abcxyz_", max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_stringify_matches_compact_json_without_floats(value: object) -> None:
    assert js_stringify(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_read_back_to_the_same_value(value: float) -> None:
    assert json.loads(js_stringify(value)) == value


def test_timestamps_in_every_format() -> None:
    expected = datetime(2024, 7, 12, 1, 31, 37, 123000, tzinfo=UTC)
    assert parse_timestamp("2024-07-12T01:31:37.123Z") == expected
    assert parse_timestamp("2024-07-12@01h31m37s123ms") == expected
    assert parse_timestamp("2024-7-12@01h31m37s") == expected.replace(microsecond=0)
    assert parse_timestamp("2024-6-5 @14h 56m 50s 682ms") == datetime(
        2024, 6, 5, 14, 56, 50, 682000, tzinfo=UTC
    )
    assert parse_timestamp("June 19, 2023 2:20pm") == datetime(2023, 6, 19, 14, 20, tzinfo=UTC)
    assert parse_timestamp("June 19, 2023 11:05am") == datetime(2023, 6, 19, 11, 5, tzinfo=UTC)
    assert parse_timestamp(1720747897123) == expected
    assert parse_timestamp("1720747897123") == expected
    assert parse_timestamp("2024-07-12T03:31:37.123+02:00") == expected
    for bad in ("yesterday", "", None, True, [1], "2024-13-45@01h01m01s"):
        assert parse_timestamp(bad) is None
    assert format_timestamp(expected) == "2024-07-12T01:31:37.123Z"
    assert format_timestamp(datetime(2024, 7, 12, 1, 31, 37)) == "2024-07-12T01:31:37.000Z"


def test_parse_reads_header_and_messages() -> None:
    chat = parse_chat("\n".join([HEADER, GREETING, USER]), "a.jsonl")
    assert chat.chat_metadata == {"integrity": "0f1c7a7e", "tainted": True}
    assert chat.user_name == "unused"
    first, second = chat.messages
    assert (first.name, first.mes, first.is_user, first.is_system) == (
        "Seraphina",
        "*You wake.*",
        False,
        False,
    )
    assert second.is_user and second.extra == {"isSmallSys": False}
    assert second.send_date == datetime(2025, 12, 1, 10, 0, 12, 345000, tzinfo=UTC)
    assert first.swipes is None and first.swipe_id is None


def test_write_is_compact_without_trailing_newline() -> None:
    text = "\n".join([HEADER, GREETING, USER])
    assert dump_chat(parse_chat(text)) == text
    # Pretty input is written compact; CRLF and a trailing newline are tolerated.
    loose = text.replace('":', '": ').replace("\n", "\r\n") + "\r\n"
    assert dump_chat(parse_chat(loose)) == text


def test_legacy_header_and_unknown_keys() -> None:
    header = (
        '{"user_name":"You","character_name":"Seraphina","create_date":"2024-10-18@21h03m11s",'
        '"chat_metadata":{"note_prompt":"","x_ext":{"a":1}}}'
    )
    message = (
        '{"name":"Seraphina","is_user":false,"is_name":true,"send_date":"June 19, 2023 2:20pm",'
        '"mes":"Hi","x_custom":[1,2],"swipes":["Hi","Yo"],"swipe_id":0}'
    )
    chat = parse_chat(header + "\n" + message)
    assert chat.create_date == datetime(2024, 10, 18, 21, 3, 11, tzinfo=UTC)
    assert chat.character_name == "Seraphina"
    only = chat.messages[0]
    assert only.unknown == {"x_custom": [1, 2]}
    assert only.swipes == ["Hi", "Yo"] and only.swipe_id == 0
    assert only.send_date == datetime(2023, 6, 19, 14, 20, tzinfo=UTC)
    assert dump_chat(chat) == header + "\n" + message


@pytest.mark.parametrize(
    ("lines", "where", "problem"),
    [
        ([HEADER, GREETING[:-20]], "chat.jsonl:2", "not valid JSON"),
        ([HEADER, GREETING, "[1, 2]"], "chat.jsonl:3", "expected a JSON object"),
        ([GREETING], "chat.jsonl:1", "not a chat header"),
        ([HEADER, '{"mes": 5}'], "chat.jsonl:2", "mes must be a string"),
        ([HEADER, '{"mes": "a", "is_user": "yes"}'], "chat.jsonl:2", "is_user must be true or"),
        ([HEADER, '{"mes": "a", "swipes": ["a", 2]}'], "chat.jsonl:2", "swipes must be a list"),
        ([HEADER, '{"mes": "a", "swipe_id": true}'], "chat.jsonl:2", "swipe_id must be an integer"),
        ([HEADER, '{"mes": "a", "swipe_info": [3]}'], "chat.jsonl:2", "swipe_info must be a list"),
        ([HEADER, '{"mes": "a", "extra": []}'], "chat.jsonl:2", "extra must be an object"),
        ([HEADER, '{"mes": "a", "send_date": {}}'], "chat.jsonl:2", "send_date must be a date"),
        ([HEADER, '{"mes": NaN}'], "chat.jsonl:2", "not valid JSON"),
        (['{"chat_metadata": []}'], "chat.jsonl:1", "chat_metadata must be an object"),
        ([HEADER, "", GREETING, '{"mes": "a"'], "chat.jsonl:4", "cut off"),
        ([""], "chat.jsonl", "empty chat file"),
    ],
)
def test_bad_input_names_file_and_line(lines: list[str], where: str, problem: str) -> None:
    with pytest.raises(ChatFileError) as info:
        parse_chat("\n".join(lines), "chat.jsonl")
    message = str(info.value)
    assert message.startswith(f"{where}: ")
    assert problem in message
    assert "\n" not in message


def test_files_are_read_and_written_atomically(tmp_path: Path) -> None:
    text = "\n".join([HEADER, GREETING, USER])
    path = tmp_path / "Seraphina - 2025-12-01@10h00m00s.jsonl"
    path.write_bytes(("\ufeff" + text).encode("utf-8"))
    chat = read_chat_file(path)
    assert chat.name == "Seraphina - 2025-12-01@10h00m00s"
    out = tmp_path / "out.jsonl"
    write_chat_file(out, chat)
    assert out.read_bytes() == text.encode("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "out.jsonl"])
    (tmp_path / "bad.jsonl").write_bytes(b"\xff\xfe{}")
    with pytest.raises(ChatFileError, match=r"bad\.jsonl: not UTF-8"):
        read_chat_file(tmp_path / "bad.jsonl")
    with pytest.raises(ChatFileError, match="cannot read"):
        read_chat_file(tmp_path / "missing.jsonl")


def test_new_messages_use_sillytavern_key_order() -> None:
    when = datetime(2025, 12, 1, 10, 0, 20, tzinfo=UTC)
    message = STMessage.create(
        name="Sera",
        mes="Hi",
        is_user=False,
        send_date=when,
        extra={"model": "m"},
        swipes=["Hi"],
        swipe_id=0,
        swipe_info=[{"send_date": "x"}],
    )
    chat = STChat(header=STChat.new_header({"integrity": "i"}), messages=(message,))
    assert dump_chat(chat).split("\n") == [
        '{"chat_metadata":{"integrity":"i"},"user_name":"unused","character_name":"unused"}',
        '{"name":"Sera","is_user":false,"is_system":false,"send_date":"2025-12-01T10:00:20.000Z",'
        '"mes":"Hi","extra":{"model":"m"},"swipe_id":0,"swipes":["Hi"],'
        '"swipe_info":[{"send_date":"x"}]}',
    ]
