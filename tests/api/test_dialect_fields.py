"""One meaning per dialect: how each server's field names and values become Parlor's
sampler settings (:mod:`app.api.fields`), the odd value shapes SillyTavern sends, and the
once-per-name log of what cannot be honoured (no model)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.api.fields import Dialect, read_sampling
from app.api.notes import FieldNotes
from app.chat.requests import Sampling
from app.engine.sampler_names import Server
from app.errors import InputError


def read(body: dict[str, Any], server: Server | None = None) -> Sampling:
    return read_sampling(body, Dialect(server), FieldNotes())


@pytest.mark.parametrize(
    ("server", "field", "value", "window"),
    [
        ("llamacpp", "repeat_last_n", 0, 0),  # llama.cpp: 0 is off
        ("llamacpp", "repeat_last_n", -1, -1),  # -1 the whole context
        ("koboldcpp", "rep_pen_range", 0, 1),  # KoboldCpp: below 1 is the last token
        ("koboldcpp", "rep_pen_range", 320, 320),
        ("ooba", "repetition_penalty_range", 0, -1),  # text-generation-webui: 0 is all
        ("tabby", "rep_pen_range", 0, 0),  # TabbyAPI: 0 off, -1 all
        ("tabby", "penalty_range", -1, -1),
        (None, "repeat_last_n", 0, 0),  # no api_type: each name its own server's meaning
        (None, "repetition_penalty_range", 0, -1),
        (None, "rep_pen_range", 0, 1),
    ],
)
def test_penalty_window_means_what_its_server_says(
    server: Server | None, field: str, value: int, window: int
) -> None:
    assert read({field: value}, server).overrides["repeat_last_n"] == window


def test_sillytavern_sends_every_window_name_and_the_api_type_picks_one() -> None:
    """SillyTavern puts rep_pen_range in three fields; /v1 reads the one of ``api_type``."""
    body = {"rep_pen_range": 0, "repetition_penalty_range": 0, "repeat_last_n": 0}
    windows = {
        api_type: read_sampling(
            {**body, "api_type": api_type}, Dialect.of_body({"api_type": api_type}), FieldNotes()
        ).overrides["repeat_last_n"]
        for api_type in ("llamacpp", "koboldcpp", "ooba", "tabby")
    }
    assert windows == {"llamacpp": 0, "koboldcpp": 1, "ooba": -1, "tabby": 0}
    assert Dialect.of_body({"api_type": "mancer"}).server is None


def test_vllm_repetition_penalty_sees_the_whole_sequence() -> None:
    assert read({"repetition_penalty": 1.1}).overrides["repeat_last_n"] == -1
    assert "repeat_last_n" not in read({"repeat_penalty": 1.1}, "llamacpp").overrides


@pytest.mark.parametrize(
    ("server", "value", "window"),
    [("llamacpp", 0, 0), ("koboldcpp", 0, -1), ("ooba", 0, -1), ("tabby", 0, -1)],
)
def test_dry_window_meanings(server: Server, value: int, window: int) -> None:
    assert read({"dry_penalty_last_n": value}, server).overrides["dry_penalty_last_n"] == window


def test_the_repetition_penalty_name_of_the_server_wins() -> None:
    body = {"rep_pen": 1.3, "repeat_penalty": 1.2, "repetition_penalty": 1.1}
    assert read(body, "koboldcpp").overrides["repeat_penalty"] == 1.3
    assert read(body, "llamacpp").overrides["repeat_penalty"] == 1.2
    assert read(body, "ooba").overrides["repeat_penalty"] == 1.1


def ranked(order: object, *stages: str) -> list[str]:
    """The ``stages`` in the order ``order`` puts them."""
    assert isinstance(order, tuple)
    return [s for s in order if s in stages]


def test_sampler_orders_of_each_server() -> None:
    llama = read({"samplers": ["min_p", "temperature", "top_k"]}, "llamacpp").overrides
    kobold = read({"sampler_order": [5, 6, 0, 1, 2, 3, 4]}, "koboldcpp").overrides
    ooba = read({"sampler_priority": ["top_k", "temperature", "min_p"], "temperature_last": False})
    assert llama["temperature_last"] is False and kobold["temperature_last"] is False
    assert ranked(llama["order"], "min_p", "temperature", "top_k") == [
        "min_p", "temperature", "top_k",
    ]  # fmt: skip
    assert ranked(kobold["order"], "temperature", "penalties", "top_k", "top_p") == [
        "temperature", "penalties", "top_k", "top_p",
    ]  # fmt: skip
    assert ooba.overrides["temperature_last"] is False
    assert ranked(ooba.overrides["order"], "top_k", "temperature", "min_p") == [
        "top_k", "temperature", "min_p",
    ]  # fmt: skip


def test_sillytavern_value_shapes() -> None:
    sampling = read(
        {
            "dry_sequence_breakers": '["\\n", ":", "\\"", "*"]',
            "custom_token_bans": "5, 6,7",
            "banned_strings": ["shivers down"],
            "logit_bias": [[9, 2.5], [10, False], ["11", -1]],
            "grammar": "",
            "grammar_string": "",
            "json_schema": {},
            "seed": -1,
            "top_k": -1,
            "stopping_strings": ["\nUser:"],
            "stop": ["\nUser:", "END"],
            "truncation_length": 4096,
            "n_predict": -1,
        },
        "llamacpp",
    )
    overrides = sampling.overrides
    assert overrides["dry_sequence_breakers"] == ("\n", ":", '"', "*")
    assert overrides["banned_tokens"] == (10, 5, 6, 7)
    assert overrides["banned_strings"] == ("shivers down",)
    assert sampling.logit_bias == {9: 2.5, 11: -1.0}
    assert sampling.grammar is None and sampling.max_new_tokens is None
    assert (overrides["seed"], overrides["top_k"]) == (-1, 0)
    assert sampling.stop == ("\nUser:", "END") and sampling.context_limit == 4096


def test_kobold_banned_tokens_are_strings_and_json_schemas_become_grammars() -> None:
    kobold = read({"banned_tokens": ["Ah,"], "singleline": True}, "koboldcpp")
    tabby = read({"banned_tokens": "3,4", "json_schema": {"type": "object"}}, "tabby")
    assert kobold.overrides["banned_strings"] == ("Ah,",) and kobold.stop == ("\n",)
    assert tabby.overrides["banned_tokens"] == (3, 4)
    assert tabby.grammar is not None and "root" in tabby.grammar


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"rep_pen_range": "all"}, "rep_pen_range"),
        ({"logit_bias": [[1, 2, 3]]}, "logit_bias"),
        ({"logit_bias": {"5": 101}}, "logit_bias"),
        ({"custom_token_bans": "1,a"}, "custom_token_bans"),
        ({"dry_sequence_breakers": 5}, "dry_sequence_breakers"),
        ({"json_schema": "{not json"}, "json_schema"),
    ],
)
def test_a_bad_value_names_its_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        read(body, "koboldcpp")
    assert caught.value.source == field


def test_what_cannot_be_honoured_is_logged_once_per_name(caplog: pytest.LogCaptureFixture) -> None:
    notes = FieldNotes()
    body = {"top_a": 0.2, "tfs": 1, "smoothing_factor": 0, "mirostat": 0, "frobnicate": True}
    with caplog.at_level(logging.WARNING, logger="app.api.notes"):
        for server in ("koboldcpp", "llamacpp", None):
            read_sampling(body, Dialect(server), notes)
    assert notes.noted == {"top_a", "frobnicate"}  # neutral values are silent
    assert caplog.text.count("'top_a'") == 1 and caplog.text.count("'frobnicate'") == 1
