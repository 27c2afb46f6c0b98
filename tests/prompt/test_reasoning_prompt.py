"""Reasoning in prompts: left out by default, "add to prompts", continue, thinking switch.

The GGUF tests render the chat templates of two real reasoning models (copied into
``chat_templates/``, see its SOURCES.md): Qwen3's ``enable_thinking`` switch and
DeepSeek-R1-Distill's prefilled ``<think>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.prompt.assemble import PromptBuilder
from app.prompt.reasoning import (
    ReasoningPrompt,
    Thinking,
    add_reasoning,
    detect_template,
    find_template,
    prefill,
    tail_state,
)
from app.prompt.registry import FormatRegistry
from app.prompt.types import BuiltPrompt, ChatMessage, ModelInfo, PromptRequest
from tests.prompt.helpers import request

TEMPLATES = Path(__file__).parent / "chat_templates"
QWEN3 = ModelInfo("Qwen3-8B", (TEMPLATES / "qwen3.jinja").read_text(), "", "<|im_end|>")
R1 = ModelInfo(
    "DeepSeek-R1-Distill-Qwen-7B",
    (TEMPLATES / "deepseek-r1-distill.jinja").read_text(),
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
)
DEEPSEEK = find_template("DeepSeek")
THINKER = (
    ChatMessage("Seraphina", "GREETING", False),
    ChatMessage("User", "Hi", True),
    ChatMessage("Seraphina", "Welcome back.", False, reasoning="They seem tired."),
    ChatMessage("User", "What now?", True),
    ChatMessage("Seraphina", "We rest.", False, reasoning="A fire would help."),
    ChatMessage("User", "Good idea.", True),
)


def build(
    builder: PromptBuilder, req: PromptRequest, *, add: int = 0, thinking: Thinking = "auto"
) -> BuiltPrompt:
    """``req`` built with the DeepSeek reasoning template and these settings."""
    reasoning = ReasoningPrompt(DEEPSEEK, add, thinking)
    return builder.build(
        PromptRequest(**{**req.__dict__, "reasoning": reasoning}),  # type: ignore[arg-type]
        len,
    )


def test_past_reasoning_is_left_out_of_the_prompt_by_default(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = build(builder, request(registry.get("ChatML"), THINKER))
    assert "We rest." in built.text and "Welcome back." in built.text
    assert "fire" not in built.text and "tired" not in built.text and "<think>" not in built.text


def test_add_to_prompts_puts_back_the_newest_reasoning_with_prefix_suffix_and_separator(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = build(builder, request(registry.get("ChatML"), THINKER), add=1)
    assert "<|im_start|>assistant\n<think>\nA fire would help.\n</think>\n\nWe rest." in built.text
    assert "tired" not in built.text  # only the newest one
    both = build(builder, request(registry.get("ChatML"), THINKER), add=5)
    assert "<think>\nThey seem tired.\n</think>\n\nWelcome back." in both.text


def test_add_reasoning_counts_only_messages_that_have_reasoning() -> None:
    settings = ReasoningPrompt(find_template("Think XML"), add_to_prompts=1)
    texts = add_reasoning(["a", "b", "c"], ["R", "", ""], settings, continuing=False)
    assert texts == ["<think>R</think>\na", "b", "c"]


def test_continue_inside_an_unfinished_block_leaves_it_open(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    history = (*THINKER, ChatMessage("Seraphina", "", False, reasoning="Hmm, a fire"))
    req = request(registry.get("ChatML"), history, generation="continue")
    built = build(builder, req)
    assert built.text.endswith("<|im_start|>assistant\n<think>\nHmm, a fire")
    assert "A fire would help." not in built.text  # older reasoning still left out


def test_continue_in_the_answer_keeps_its_reasoning_before_it(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    history = (*THINKER, ChatMessage("Seraphina", "Then we", False, reasoning="Decide."))
    built = build(builder, request(registry.get("ChatML"), history, generation="continue"))
    assert built.text.endswith("<|im_start|>assistant\n<think>\nDecide.\n</think>\n\nThen we")


def test_thinking_on_and_off_prefill_the_block_for_an_instruct_format(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    req = request(registry.get("ChatML"), THINKER)
    plain = build(builder, req)
    on = build(builder, req, thinking="on")
    off = build(builder, req, thinking="off")
    assert on.text == plain.text + "<think>\n"
    assert off.text == plain.text + "<think>\n\n</think>\n\n"
    assert on.segments[-1].kind == "generation" and on.segments[-1].volatile
    assert "".join(s.text for s in off.segments) == off.text


def test_qwen3_template_switches_thinking_with_its_own_enable_thinking(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    req = request(registry.get("GGUF"), THINKER, model=QWEN3)
    auto = build(builder, req)
    off = build(builder, req, thinking="off")
    on = build(builder, req, thinking="on")
    assert auto.text.endswith("<|im_start|>user\nGood idea.<|im_end|>\n<|im_start|>assistant\n")
    assert on.text == auto.text  # enable_thinking true: the model opens the block itself
    assert off.text == auto.text + "<think>\n\n</think>\n\n"  # written by the template
    assert off.text.count("<think>") == 1  # Parlor added no second block
    assert tail_state(off.text, DEEPSEEK) == "closed"
    assert tail_state(auto.text, DEEPSEEK) == "none"


def test_deepseek_r1_template_prefills_the_tag_and_the_reply_starts_inside_it(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    req = request(registry.get("GGUF"), THINKER, model=R1)
    auto = build(builder, req)
    assert auto.text.endswith("<｜User｜>Good idea.<｜Assistant｜><think>\n")
    assert tail_state(auto.text, DEEPSEEK) == "open"
    assert build(builder, req, thinking="on").text == auto.text  # already open
    off = build(builder, req, thinking="off")
    assert off.text == auto.text + "\n</think>\n\n"  # the open block closed, empty


def test_qwen3_template_strips_added_reasoning_of_older_turns_itself(
    builder: PromptBuilder, registry: FormatRegistry
) -> None:
    built = build(builder, request(registry.get("GGUF"), THINKER, model=QWEN3), add=5)
    assert "A fire would help." not in built.text and "We rest.<|im_end|>" in built.text


def test_the_reasoning_template_is_detected_from_the_chat_template() -> None:
    assert detect_template(QWEN3.chat_template) == "Qwen"
    assert detect_template(R1.chat_template) == "DeepSeek"
    assert detect_template("{{ '<|start|>assistant<|channel|>final<|message|>' }}") == "gpt-oss"
    assert detect_template("{{ '<|im_start|>' }}") == "DeepSeek"  # the default


@pytest.mark.parametrize(
    ("prompt", "thinking", "written"),
    [
        ("A:", "on", "<think>\n"),
        ("A:", "off", "<think>\n\n</think>\n\n"),
        ("A:<think>\n", "off", "\n</think>\n\n"),
        ("A:<think>\n", "on", ""),
        ("A:<think>\n\n</think>\n\n", "on", ""),
        ("A:", "auto", ""),
    ],
)
def test_prefill_writes_only_what_the_prompt_lacks(
    prompt: str, thinking: Thinking, written: str
) -> None:
    assert prefill(prompt, DEEPSEEK, thinking) == written
