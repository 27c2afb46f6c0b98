"""A new group chat's greetings go through the macro engine (as SillyTavern's
``getFirstCharacterMessage`` runs ``substituteParams``), with no model loaded."""

from __future__ import annotations

import json
import re

from app.context import AppContext

GREETING = (
    "{{char}} greets {{user}}. Here: {{group}}. Not me: {{notChar}}. "
    "Us: {{charIfNotGroup}}. It is {{time}}.{{noop}} {{random::rain::rain}}."
)


def card(name: str, first_mes: str, *alternates: str) -> bytes:
    data = {"name": name, "first_mes": first_mes, "alternate_greetings": list(alternates)}
    return json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}).encode()


def test_greetings_expand_the_group_macros_time_and_the_rest(context: AppContext) -> None:
    ann = context.library.import_card(card("Ann", GREETING, "<BOT> bows to <USER>."))
    bob = context.library.import_card(card("Bob", "{{char}} nods at {{notChar}}."))
    groups = context.services.groups
    chat = groups.new_chat(groups.create("Veyle", [ann.id, bob.id]).id)

    path = context.stores.chats.active_path(chat.id)
    first, second = path[0].content, path[1].content
    assert first.startswith(
        "Ann greets User. Here: Ann, Bob. Not me: Bob, User. Us: Ann, Bob. It is "
    )
    assert re.search(r"It is \d{1,2}:\d{2} [AP]M\. rain\.$", first), first
    assert second == "Bob nods at Ann, User."
    assert context.stores.chats.siblings(path[0].id) == (0, 2)  # the alternate: a swipe
    ann_texts = [m.content for m in context.stores.chats.messages(chat.id) if m.speaker == "Ann"]
    assert ann_texts[1:] == ["Ann bows to User."]
