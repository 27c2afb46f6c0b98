"""The reasoning parser on streams cut at every position, tags split across chunks included."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.prompt.reasoning import BUILTIN_TEMPLATES, ReasoningTemplate, find_template
from app.prompt.reasoning_parser import Parsed, ParseState, ReasoningParser, parse_reply

DEEPSEEK = find_template("DeepSeek")
GPT_OSS = find_template("gpt-oss")
GEMMA = find_template("Gemma 4")


@dataclass(frozen=True)
class Case:
    """A reply as the model writes it, where it starts, and what it must split into."""

    template: ReasoningTemplate | None
    text: str
    start: ParseState
    expected: Parsed


CASES = [
    Case(DEEPSEEK, "<think>\nThe user greets me.\n</think>\n\nHello!", "start",
         Parsed("The user greets me.", "Hello!", "answer")),
    Case(DEEPSEEK, "  \n<think>a < b, and </thin is no tag</think>Fine.", "start",
         Parsed("a < b, and </thin is no tag", "Fine.", "answer")),
    Case(DEEPSEEK, "Hello <think>not at the start</think>", "start",
         Parsed("", "Hello <think>not at the start</think>", "answer")),
    Case(DEEPSEEK, "<thinking about it", "start", Parsed("", "<thinking about it", "answer")),
    Case(DEEPSEEK, "<think>\nStill going", "start", Parsed("Still going", "", "thinking")),
    Case(DEEPSEEK, "Prefilled thought.\n</think>\n\n*waves*", "thinking",
         Parsed("Prefilled thought.", "*waves*", "answer")),
    Case(GPT_OSS, "<|channel|>analysis<|message|>Plan it.<|start|>assistant<|channel|>final"
         "<|message|>Done.", "start", Parsed("Plan it.", "Done.", "answer")),
    Case(GPT_OSS, "<|channel|>analysis<|message|>Plan.<|end|><|start|>assistant<|channel|>"
         "final<|message|>Ok", "start", Parsed("Plan.", "Ok", "answer")),
    Case(GEMMA, "<|channel>thought\nHm.<channel|>Yes.", "start", Parsed("Hm.", "Yes.", "answer")),
    Case(find_template("Blank"), "<think>x</think>y", "start",
         Parsed("", "<think>x</think>y", "answer")),
    Case(None, "<think>x</think>y", "start", Parsed("", "<think>x</think>y", "answer")),
]  # fmt: skip


@pytest.fixture(params=CASES, ids=lambda case: repr(case.text[:24]))
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def streamed(case: Case, chunks: list[str]) -> tuple[Parsed, list[Parsed]]:
    """The final parse of ``chunks`` fed one by one, and every parse along the way."""
    parser = ReasoningParser(case.template, start=case.start)
    seen = []
    for chunk in chunks:
        parser.feed(chunk)
        seen.append(parser.parsed())
    return parser.finish(), seen


def test_a_whole_reply_splits_into_reasoning_and_answer(case: Case) -> None:
    assert parse_reply(case.text, case.template, start=case.start) == case.expected


def test_two_chunks_cut_at_every_position_parse_the_same(case: Case) -> None:
    text = case.text
    for cut in range(len(text) + 1):
        final, _ = streamed(case, [text[:cut], text[cut:]])
        assert final == case.expected, f"cut at {cut}: {text[:cut]!r} | {text[cut:]!r}"


def test_a_partial_tag_never_shows_while_streaming(case: Case) -> None:
    final, seen = streamed(case, list(case.text))
    assert final == case.expected
    reasoning, answer = case.expected.reasoning, case.expected.answer
    template = case.template
    tags = template.openers + template.closers if template and template.parses else ()
    for step, parsed in enumerate(seen):
        # What is shown only grows, and is always the start of what the reply ends with.
        assert reasoning.startswith(parsed.reasoning.strip()), (step, parsed)
        assert answer.startswith(parsed.answer), (step, parsed)
        for tag in tags:
            for size in range(1, len(tag)):
                if not reasoning.endswith(tag[:size]):
                    assert not parsed.reasoning.endswith(tag[:size]), (step, parsed, tag)


def test_a_closing_tag_split_across_two_chunks_is_held_back_then_closes() -> None:
    parser = ReasoningParser(DEEPSEEK)
    parser.feed("<think>Weighing it</th")
    assert parser.parsed() == Parsed("Weighing it", "", "thinking")
    parser.feed("ink>\n\nSo be it.")
    assert parser.parsed() == Parsed("Weighing it", "So be it.", "answer")


def test_an_opening_tag_split_across_two_chunks_waits_for_the_rest() -> None:
    parser = ReasoningParser(DEEPSEEK)
    parser.feed("\n<th")
    assert parser.parsed() == Parsed("", "", "start")
    parser.feed("ink>Hm")
    assert parser.parsed() == Parsed("Hm", "", "thinking")


def test_a_continued_block_goes_on_from_its_stored_reasoning() -> None:
    parser = ReasoningParser(DEEPSEEK, start="thinking", reasoning="First thought")
    parser.feed(", second thought.\n</think>\n\nAnswer.")
    assert parser.finish() == Parsed("First thought, second thought.", "Answer.", "answer")


def test_a_continued_answer_keeps_its_text_as_it_is() -> None:
    parser = ReasoningParser(DEEPSEEK, start="answer", answer="It was ")
    parser.feed(" late.")
    assert parser.finish() == Parsed("", "It was  late.", "answer")


def test_every_builtin_template_with_both_tags_parses_its_own_prefix_and_suffix() -> None:
    for template in BUILTIN_TEMPLATES:
        if not template.parses:
            continue
        text = f"{template.prefix}idea{template.suffix}{template.separator}reply"
        assert parse_reply(text, template) == Parsed("idea", "reply", "answer"), template.name
