"""Reasoning for the API: chat completions answer with ``reasoning_content`` and ``content``.

As llama-server, vLLM and DeepSeek's API do, the thinking of a chat completion is sent
apart from the answer (``message.reasoning_content``, streamed as
``delta.reasoning_content``); text completions stay raw.  The template is the loaded
model's (chosen for it, else detected from its chat template, else the user's default),
and a prompt that ends inside an opened block (DeepSeek-R1's template prefills
``<think>``) starts the reply inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.chat.reasoning_files import ReasoningTemplates
from app.engine.base import GenerationRequest, ModelInfo, TokenProbs
from app.prompt.reasoning import ReasoningTemplate
from app.prompt.reasoning_parser import (
    Parsed,
    ParseState,
    ReasoningParser,
    parse_reply,
    reply_start,
)
from app.storage.repositories import PreferencesRepository


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of a streamed reply's reasoning (sent as ``delta.reasoning_content``)."""

    text: str
    #: With logprobs asked: the tokens generated since the last piece sent.
    probs: tuple[TokenProbs, ...] = ()


class ReplySplit:
    """Splits one streamed reply into new reasoning and new answer text, chunk by chunk."""

    def __init__(self, template: ReasoningTemplate | None, start: ParseState) -> None:
        self._parser = ReasoningParser(template, start=start)
        self._sent_reasoning = 0
        self._sent_answer = 0

    def feed(self, text: str) -> tuple[str, str]:
        """``(reasoning, answer)`` text that ``text`` made ready to send."""
        self._parser.feed(text)
        return self._new(self._parser.parsed())

    def finish(self) -> tuple[str, str]:
        """What is left to send once the reply has ended."""
        return self._new(self._parser.finish())

    def _new(self, parsed: Parsed) -> tuple[str, str]:
        # Trailing whitespace waits: the block's end may trim it.
        reasoning = parsed.reasoning.rstrip()[self._sent_reasoning :]
        answer = parsed.answer[self._sent_answer :]
        self._sent_reasoning += len(reasoning)
        self._sent_answer += len(answer)
        return reasoning, answer


class ApiReasoning:
    """Knows each model's reasoning template; splits API chat replies with it."""

    def __init__(
        self,
        templates: ReasoningTemplates | None = None,
        preferences: PreferencesRepository | None = None,
    ) -> None:
        self._templates = templates or ReasoningTemplates()
        #: The user's choices: each model's template and the default (None: none made).
        self._preferences = preferences

    def template(self, info: ModelInfo) -> ReasoningTemplate | None:
        """The loaded model's reasoning template: chosen for it, else the one its chat
        template points to, else the user's default."""
        prefs = self._preferences
        chosen = prefs.reasoning_template(info.name) if prefs else None
        default = prefs.default_reasoning_template() if prefs else None
        return self._templates.find(self._templates.pick((chosen,), info.chat_template, default))

    def start(self, info: ModelInfo, request: GenerationRequest) -> ParseState:
        """Where ``request``'s reply starts: inside a block its prompt opened, or not."""
        return reply_start(request.prompt_text or "", self.template(info))

    def split(self, info: ModelInfo, request: GenerationRequest) -> ReplySplit:
        """A splitter for one streamed reply to ``request``."""
        return ReplySplit(self.template(info), self.start(info, request))

    def parse(self, info: ModelInfo, request: GenerationRequest, text: str) -> Parsed:
        """A whole reply to ``request`` split into reasoning and answer."""
        return parse_reply(text, self.template(info), start=self.start(info, request))
