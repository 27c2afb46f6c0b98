"""The one request builder: stops merged once, BOS once, sizes checked before tokenizing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.chat.requests import (
    MAX_CHARS_PER_TOKEN,
    ApiMessage,
    RequestBuilder,
    Sampling,
    merge_stops,
)
from app.engine.fake import FakeBackend
from app.errors import ContextLengthExceeded, InputError
from app.prompt.sandbox import TemplateSandbox


class CountingFake(FakeBackend):
    """Counts tokenize calls and records the ``add_bos`` each one asked for."""

    def __init__(self, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.add_bos: list[bool] = []

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        self.add_bos.append(add_bos)
        return super().tokenize(text, add_bos=add_bos, special=special)


def builder() -> RequestBuilder:
    return RequestBuilder(TemplateSandbox())


def test_stops_merge_in_order_once_and_never_empty() -> None:
    assert merge_stops(["\nYou:", ""], ("\nYou:", "END"), ["END", "\n\n"]) == (
        "\nYou:",
        "END",
        "\n\n",
    )


def test_bos_is_added_only_when_the_prompt_lacks_it() -> None:
    backend = CountingFake()
    backend._info = replace(backend.info, bos_token="<s>", add_bos=True)
    requests = builder()
    requests.tokenize_prompt(backend, "<s>hello")
    requests.tokenize_prompt(backend, "hello")
    assert backend.add_bos == [False, True]


def test_a_text_that_cannot_fit_is_refused_without_tokenizing() -> None:
    backend = CountingFake(n_ctx=256)
    requests = builder()
    too_long = "a" * (256 * MAX_CHARS_PER_TOKEN + 1)
    with pytest.raises(ContextLengthExceeded, match="characters, more than the context"):
        requests.for_text(backend, too_long, Sampling())
    with pytest.raises(ContextLengthExceeded):
        requests.for_messages(backend, [ApiMessage("user", too_long)], Sampling())
    with pytest.raises(ContextLengthExceeded):
        requests.tokenize(backend, too_long, add_special=False, parse_special=False)
    assert backend.add_bos == []


def test_request_values_win_over_the_defaults_and_bias_ids_are_checked() -> None:
    backend = FakeBackend()
    backend._info = replace(backend.info, n_vocab=100)
    requests = builder()
    sampling = Sampling(overrides={"temperature": 0.2}, logit_bias={5: -5.0}, stop=("X",))
    made = requests.for_text(backend, "Once", sampling)
    assert made.sampler.temperature == 0.2 and made.sampler.logit_bias == {5: -5.0}
    assert made.stop == ("X",) and made.max_new_tokens == backend.info.n_ctx - 4
    with pytest.raises(InputError, match=r"token id 100 is not in the model's vocabulary"):
        requests.for_text(backend, "Once", Sampling(logit_bias={100: 1.0}))
    with pytest.raises(InputError) as caught:
        requests.for_text(backend, "Once", Sampling(overrides={"top_p": 7.0}))
    assert caught.value.source == "top_p"
