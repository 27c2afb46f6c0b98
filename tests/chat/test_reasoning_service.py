"""Reasoning through the chat service with a scripted backend: storage, budget, continue.

The scripted backend counts one token per character and honours ``max_new_tokens``, so
the budget's two requests can be checked exactly.  The same budget on the real model is
in ``test_reasoning_model.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from app.context import AppContext
from app.engine.base import Finished, GenerationEvent, GenerationRequest, TextDelta
from app.engine.fake import FakeBackend
from app.storage.types import ChatSettings, Message, ReasoningSettings
from tests.chat.test_service import character_id, last


class CountingBackend(FakeBackend):
    """The scripted backend writing at most ``max_new_tokens`` characters, as a model would."""

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """The scripted reply, cut at the request's length (finish reason "length")."""
        inner = super().stream(request)
        written = ""
        for event in inner:
            if isinstance(event, Finished):
                yield replace(event, text=written)
                return
            piece = event.text[: request.max_new_tokens - len(written)]
            if piece:
                written += piece
                yield TextDelta(piece)
            if len(written) >= request.max_new_tokens:
                inner.close()
                stats = replace(self._stats(request, written), completion_tokens=len(written))
                yield Finished("length", written, stats)
                return


@pytest.fixture
def backend(context: AppContext) -> CountingBackend:
    backend = CountingBackend(n_ctx=16384)
    context.models.use(backend)
    return backend


def new_chat(context: AppContext, **reasoning: object) -> int:
    chat = context.chat.new_chat(character_id(context))
    settings = ChatSettings(reasoning=ReasoningSettings(**reasoning))  # type: ignore[arg-type]
    context.stores.chats.update_settings(chat.id, settings)
    return chat.id


def reply(context: AppContext, chat_id: int) -> Message:
    return context.chat.view(chat_id).messages[-1].message


def test_a_reply_with_a_think_block_is_stored_apart_and_left_out_of_the_next_prompt(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context)
    backend.enqueue(["<think>\nThey look", " cold.\n</th", "ink>\n\n*Ysolde lights the stove.*"])
    done = last(context.chat.send(chat_id, "Hello?"))
    assert done.text == "*Ysolde lights the stove.*"
    assert done.thought.text == "They look cold." and not done.thought.thinking
    stored = reply(context, chat_id)
    assert stored.content == "*Ysolde lights the stove.*"
    assert stored.extra["reasoning"] == "They look cold."
    assert stored.extra["reasoning_type"] == "parsed"
    assert isinstance(stored.extra["reasoning_duration"], int)
    assert "They look cold." not in context.chat.prompt(chat_id).text
    assert "Ysolde lights the stove" in context.chat.prompt(chat_id).text


def test_add_to_prompts_brings_the_newest_reasoning_back(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context, add_to_prompts=1)
    backend.enqueue(["<think>Warm them first.</think>Come in."])
    last(context.chat.send(chat_id, "Hello?"))
    assert "<think>\nWarm them first.\n</think>\n\nCome in." in context.chat.prompt(chat_id).text


def test_the_budget_closes_the_block_and_the_answer_begins(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context, thinking="on", budget=10)
    backend.enqueue(["I should greet them warmly and ask about the road."])
    backend.enqueue(["Welcome, traveller!"])
    done = last(context.chat.send(chat_id, "Hello?"))
    first, second = backend.requests[-2:]
    assert first.prompt_text is not None and first.prompt_text.endswith("<think>\n")
    assert first.max_new_tokens == 10
    assert second.prompt_text == first.prompt_text + "I should g\n</think>\n\n"
    assert second.max_new_tokens == 350 - 10
    assert (done.thought.text, done.text) == ("I should g", "Welcome, traveller!")
    assert done.gen_info is not None and done.gen_info.completion_tokens == 10 + 19
    stored = reply(context, chat_id)
    assert (stored.extra["reasoning"], stored.content) == ("I should g", "Welcome, traveller!")


def test_a_block_the_model_closes_within_its_budget_is_not_forced(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context, budget=30)
    backend.enqueue(["<think>ok</think>Hello there, friend. How are you?"])
    backend.enqueue(["friend."])
    done = last(context.chat.send(chat_id, "Hello?"))
    first, second = backend.requests[-2:]
    assert second.prompt_text == f"{first.prompt_text}<think>ok</think>Hello there, "
    assert (done.thought.text, done.text) == ("ok", "Hello there, friend.")


def test_without_a_budget_a_reply_is_one_request(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context, thinking="off")
    before = len(backend.requests)
    backend.enqueue(["Fine, thanks."])
    done = last(context.chat.send(chat_id, "Hello?"))
    assert len(backend.requests) == before + 1 and done.text == "Fine, thanks."
    prompt = backend.requests[-1].prompt_text
    assert prompt is not None and prompt.endswith("<think>\n\n</think>\n\n")


def test_a_reply_stopped_inside_its_block_is_kept_and_continue_thinks_on(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context)
    backend.enqueue(["<think>\nFirst, the lamp"])
    done = last(context.chat.send(chat_id, "Hello?"))
    assert (done.text, done.thought.text, done.thought.thinking) == ("", "First, the lamp", True)
    kept = reply(context, chat_id)
    assert (kept.content, kept.extra["reasoning"]) == ("", "First, the lamp")
    backend.enqueue([", then the door.\n</think>\n\nCome in!"])
    more = last(context.chat.continue_reply(chat_id))
    prompt = backend.requests[-1].prompt_text
    assert prompt is not None and prompt.endswith("<think>\nFirst, the lamp")
    assert (more.thought.text, more.text) == ("First, the lamp, then the door.", "Come in!")
    stored = reply(context, chat_id)
    assert stored.id == kept.id
    assert (stored.extra["reasoning"], stored.content) == (more.thought.text, "Come in!")


def test_continue_in_the_answer_adds_to_it_and_keeps_the_reasoning(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context)
    backend.enqueue(["<think>Short.</think>The lamp is"])
    last(context.chat.send(chat_id, "Hello?"))
    backend.enqueue([" lit."])
    more = last(context.chat.continue_reply(chat_id))
    prompt = backend.requests[-1].prompt_text
    assert prompt is not None and prompt.endswith("<think>\nShort.\n</think>\n\nThe lamp is")
    assert (more.text, more.thought.text) == ("The lamp is lit.", "Short.")
    stored = reply(context, chat_id)
    assert (stored.content, stored.extra["reasoning"]) == ("The lamp is lit.", "Short.")


def test_reasoning_is_edited_and_deleted_without_touching_the_answer(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context)
    backend.enqueue(["<think>Draft.</think>Answer."])
    message = last(context.chat.send(chat_id, "Hello?")).message
    assert message is not None
    edited = context.chat.set_reasoning(message.id, " Better draft. ")
    assert edited.extra["reasoning"] == "Better draft."
    assert edited.extra["reasoning_type"] == "edited"
    gone = context.chat.set_reasoning(message.id, "")
    assert gone.extra.get("reasoning") == "" and "reasoning_duration" not in gone.extra
    assert gone.content == "Answer."
    assert context.chat.view(chat_id).messages[-1].thought.text == ""


def test_each_swipe_keeps_its_own_reasoning(context: AppContext, backend: CountingBackend) -> None:
    chat_id = new_chat(context)
    backend.enqueue(["<think>One.</think>First."])
    last(context.chat.send(chat_id, "Hello?"))
    backend.enqueue(["<think>Two.</think>Second."])
    last(context.chat.regenerate(chat_id))
    second = reply(context, chat_id)
    first = context.chat.swipe(second.id, -1).shown
    assert first is not None and first.extra["reasoning"] == "One."
    assert second.extra["reasoning"] == "Two."


def test_model_reasoning_template_is_chosen_per_model_and_per_chat(
    context: AppContext, backend: CountingBackend
) -> None:
    chat_id = new_chat(context)
    chat = context.chat.chat(chat_id)
    model = context.chat.setting_choices().model_reasoning
    assert model is not None and (model.model, model.chosen, model.detected) == (
        "fake", None, "DeepSeek"
    )  # fmt: skip
    context.chat.save_settings(
        chat_id, chat.settings, persona_id=None, model_reasoning=replace(model, chosen="gpt-oss")
    )
    backend.enqueue(["<|channel|>analysis<|message|>Hm.<|start|>assistant<|channel|>final"
                     "<|message|>Yes."])  # fmt: skip
    done = last(context.chat.send(chat_id, "Hello?"))
    assert (done.thought.text, done.text) == ("Hm.", "Yes.")
    per_chat = replace(chat.settings, reasoning=ReasoningSettings(template="Think XML"))
    context.chat.save_settings(chat_id, per_chat, persona_id=None)
    backend.enqueue(["<think>x</think>y"])
    done = last(context.chat.send(chat_id, "Again?"))
    assert (done.thought.text, done.text) == ("x", "y")
