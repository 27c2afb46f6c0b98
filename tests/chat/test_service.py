"""The chat service over real SQLite storage with the scripted backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.chat.service import ChatService
from app.chat.turns import Progress
from app.context import AppContext
from app.engine.fake import FakeBackend
from app.errors import InputError
from app.storage.types import Chat, ChatSettings, Role


def character_id(context: AppContext, name: str = "Ysolde Marrow") -> int:
    return context.library.find(name).id


def last(iterator: Iterator[Progress]) -> Progress:
    items = list(iterator)
    assert items, "the stream yielded nothing"
    return items[-1]


def chat_after(context: AppContext, fake: FakeBackend, question: str, reply: str) -> Chat:
    """A new chat with Ysolde in which ``question`` was sent and ``reply`` came back."""
    chat = context.chat.new_chat(character_id(context))
    fake.enqueue([reply])
    last(context.chat.send(chat.id, question))
    return chat


def shown(chat: ChatService, chat_id: int) -> list[tuple[str, str, int, int]]:
    return [
        (m.message.role.value, m.message.content, m.swipe_index, m.swipe_count)
        for m in chat.view(chat_id).messages
    ]


def test_new_chat_opens_with_the_greeting_and_alternates_as_swipes(context: AppContext) -> None:
    card = context.library.card(character_id(context))
    chat = context.chat.new_chat(character_id(context))
    view = context.chat.view(chat.id)
    assert view.character_name == "Ysolde Marrow"
    assert len(view.messages) == 1
    first = view.messages[0]
    assert first.message.content == card.first_mes
    assert first.swipe_count == 1 + len(card.alternate_greetings) >= 3
    swiped = context.chat.swipe(first.message.id, +1)
    assert swiped.replies is None and swiped.shown is not None
    assert swiped.shown.content == card.alternate_greetings[0]
    assert context.chat.swipe(first.message.id, -1).shown is None  # nothing before the first


def test_send_commits_the_user_message_before_the_reply(
    context: AppContext, fake: FakeBackend
) -> None:
    chat = context.chat.new_chat(character_id(context))
    fake.enqueue(["The lantern ", "flickers."])
    stream = context.chat.send(chat.id, "Hello {{char}}!")
    first = next(stream)  # the reply has started streaming
    path = context.stores.chats.active_path(chat.id)
    assert path[-1].role == Role.USER
    assert path[-1].content == "Hello Ysolde Marrow!"  # macros expanded on send
    rest = list(stream)
    done = rest[-1] if rest else first
    assert done.done and done.text == "The lantern flickers."
    assert done.message is not None and done.message.gen_info.stopped is False
    assert [m[0] for m in shown(context.chat, chat.id)] == ["assistant", "user", "assistant"]
    prompt = fake.requests[-1]
    text = fake.detokenize(prompt.prompt_tokens)
    assert "Hello Ysolde Marrow!" in text
    description = context.library.card(character_id(context)).description
    assert description[:60].replace("{{char}}", "Ysolde Marrow") in text


def test_stop_keeps_the_partial_reply_marked_stopped(
    context: AppContext, fake: FakeBackend
) -> None:
    chat = context.chat.new_chat(character_id(context))
    fake.chunk_gate = threading.Event()
    fake.enqueue(["Once ", "upon ", "a ", "time"])
    stream = context.chat.send(chat.id, "Tell me a story")
    fake.chunk_gate.set()
    progress = next(stream)  # one chunk is out; the backend waits at the gate for the next
    fake.chunk_gate.clear()
    context.chat.stop()  # the stop lands while the reply is under way …
    fake.chunk_gate.set()  # … and the backend sees it before its next chunk
    done = last(stream)
    assert done.done and done.finish_reason == "aborted"
    assert done.text.startswith("Once") and done.text != "Once upon a time"
    assert progress.text and done.message is not None
    stored = context.stores.chats.get_message(done.message.id)
    assert stored.content == done.text and stored.gen_info.stopped is True


def test_swipes_on_any_message_keep_their_own_continuations(
    context: AppContext, fake: FakeBackend
) -> None:
    chat = chat_after(context, fake, "Question one", "Reply A")
    fake.enqueue(["Reply A2"])
    last(context.chat.send(chat.id, "Question two"))
    path = context.stores.chats.active_path(chat.id)
    reply_a = path[2]
    # Swipe right past the last alternative of an earlier reply: a new one is generated.
    fake.enqueue(["Reply B"])
    swiped = context.chat.swipe(reply_a.id, +1)
    assert swiped.shown is None and swiped.replies is not None
    done = last(swiped.replies)
    assert done.text == "Reply B"
    assert [m[1] for m in shown(context.chat, chat.id)][2:] == ["Reply B"]
    fake.enqueue(["Reply B2"])
    last(context.chat.send(chat.id, "Question three"))
    assert [m[1] for m in shown(context.chat, chat.id)][2:] == [
        "Reply B",
        "Question three",
        "Reply B2",
    ]
    # Back to the first alternative: its own continuation comes back.
    back = context.chat.swipe(context.stores.chats.active_path(chat.id)[2].id, -1)
    assert back.shown is not None and back.shown.content == "Reply A"
    view = shown(context.chat, chat.id)
    assert [m[1] for m in view][2:] == ["Reply A", "Question two", "Reply A2"]
    assert view[2][2:] == (0, 2)
    # The prompt for the swipe saw only the history before that reply.
    swipe_prompt = fake.detokenize(fake.requests[2].prompt_tokens)
    assert "Question one" in swipe_prompt and "Question two" not in swipe_prompt


def test_generating_a_swipe_off_the_shown_branch_is_refused(
    context: AppContext, fake: FakeBackend
) -> None:
    chat = chat_after(context, fake, "Question one", "Reply A")
    greeting, _, reply = context.stores.chats.active_path(chat.id)
    assert context.chat.swipe(greeting.id, +1).shown is not None  # another greeting shown
    with pytest.raises(InputError, match="no longer on the shown branch"):
        context.chat.swipe(reply.id, +1)
    assert len(fake.requests) == 1  # nothing was generated for the hidden reply


def test_regenerate_continue_impersonate(context: AppContext, fake: FakeBackend) -> None:
    chat = chat_after(context, fake, "Hi", "First")
    fake.enqueue(["Second"])
    last(context.chat.regenerate(chat.id))
    view = shown(context.chat, chat.id)
    assert view[-1][1:] == ("Second", 1, 2)
    fake.enqueue([" and more."])
    done = last(context.chat.continue_reply(chat.id))
    assert done.text == "Second and more."
    assert shown(context.chat, chat.id)[-1][1] == "Second and more."
    fake.enqueue(["I nod slowly."])
    count = context.stores.chats.count_messages(chat.id)
    imp = last(context.chat.impersonate(chat.id))
    assert imp.text == "I nod slowly." and imp.message is None
    assert context.stores.chats.count_messages(chat.id) == count


def test_continue_needs_a_reply(context: AppContext, fake: FakeBackend) -> None:
    chat = chat_after(context, fake, "Hi", "x")
    user = context.stores.chats.active_path(chat.id)[1]
    context.chat.delete(context.stores.chats.active_path(chat.id)[2].id)
    assert context.stores.chats.active_path(chat.id)[-1].id == user.id
    with pytest.raises(InputError, match="not a reply"):
        last(context.chat.continue_reply(chat.id))


def test_edit_in_place_as_swipe_delete_and_branch(context: AppContext, fake: FakeBackend) -> None:
    chat = chat_after(context, fake, "Hi", "Reply")
    user, reply = context.stores.chats.active_path(chat.id)[1:3]
    context.chat.edit(user.id, "Hello")
    assert context.stores.chats.get_message(user.id).content == "Hello"
    edited = context.chat.edit(reply.id, "Better reply", as_swipe=True)
    assert shown(context.chat, chat.id)[-1] == ("assistant", "Better reply", 1, 2)
    branch = context.chat.branch(user.id)
    assert [m[1] for m in shown(context.chat, branch.id)][1:] == ["Hello"]
    assert context.chat.delete(edited.id) == 1
    assert shown(context.chat, chat.id)[-1][1] == "Reply"


def test_prompt_shows_the_exact_next_prompt(context: AppContext, fake: FakeBackend) -> None:
    chat = context.chat.new_chat(character_id(context))
    context.stores.chats.update_settings(chat.id, ChatSettings(format="ChatML-Names"))
    prompt = context.chat.prompt(chat.id)
    assert prompt.format_name == "ChatML-Names"
    assert prompt.text.endswith("<|im_end|>\n<|im_start|>Ysolde Marrow\n")
    fake.enqueue(["ok"])
    last(context.chat.send(chat.id, "Hi"))
    sent = fake.detokenize(fake.requests[-1].prompt_tokens)
    assert sent.endswith("<|im_start|>User\nHi<|im_end|>\n<|im_start|>Ysolde Marrow\n")


def test_api_character_prompts_render_like_the_ui(context: AppContext, fake: FakeBackend) -> None:
    from app.chat.api_prompts import ChatInput
    from app.chat.requests import ApiMessage, Sampling
    from app.errors import NotFound

    messages = (
        ApiMessage("user", "Status?", name="Ada"),
        ApiMessage("assistant", "Nominal."),
        ApiMessage("user", "Good.", name="Ada"),
    )
    requests = context.api_requests
    rendered = requests.chat(fake, ChatInput(messages, Sampling(preset="Stheno"), "hesper"))
    assert rendered.prompt_text is not None
    assert "Ada: Status?" in rendered.prompt_text and rendered.prompt_text.endswith("HESPER:")
    assert "\nAda:" in rendered.stop
    assert rendered.sampler.temperature == 1.12 and rendered.sampler.top_k == 50
    with pytest.raises(NotFound):
        requests.chat(fake, ChatInput((ApiMessage("user", "hi"),), character="Nobody"))
