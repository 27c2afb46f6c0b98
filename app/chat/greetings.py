"""A group chat's greetings with their macros expanded, as SillyTavern stores them.

SillyTavern's ``getFirstCharacterMessage`` runs each member's greeting through
``substituteParams`` with that member as ``{{char}}``: the same macro engine as every
other text, so ``{{group}}``, ``{{notChar}}``, ``{{charIfNotGroup}}``, ``{{time}}``,
``{{random::…}}`` and the rest work in greetings too.  A greeting is written before
any model is asked anything, so it is expanded for the default prompt format.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.cards.model import CharacterCard
from app.chat.convert import character_info
from app.prompt.assemble import PromptBuilder
from app.prompt.group import GroupPrompt
from app.prompt.registry import FormatRegistry
from app.prompt.types import ModelInfo, Persona, PromptRequest


class GreetingMacros:
    """Expands the macros of new group chats' greetings."""

    def __init__(self, builder: PromptBuilder, formats: FormatRegistry) -> None:
        self._builder = builder
        self._formats = formats

    def greetings(self, card: CharacterCard, group: GroupPrompt, persona: Persona) -> list[str]:
        """The member's greetings (first, alternate, group-only), expanded, empty ones out."""
        request = PromptRequest(
            format=self._formats.select(None, ModelInfo()),
            character=character_info(card),
            history=(),
            n_ctx=0,
            max_new_tokens=0,
            persona=persona,
            group=group,
        )
        return [self._builder.substitute(text, request) for text in _texts(card)]


def _texts(card: CharacterCard) -> Sequence[str]:
    texts = [card.first_mes, *card.alternate_greetings, *card.group_only_greetings]
    return [t.strip() for t in texts if t.strip()]
