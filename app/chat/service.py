"""The chat service: builds the prompt for a turn, streams the reply, and stops it.

This is the only place that orchestrates: UI and API call it; it calls the prompt
builder and the engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.engine.base import Finished, FinishReason, GenerationRequest, GenerationStats, TextDelta
from app.engine.manager import ModelManager
from app.engine.sampling import SamplerSettings
from app.prompt.gguf_template import ChatTurn, render_chat_template
from app.prompt.sandbox import TemplateSandbox

#: How often (seconds) a streaming reply is pushed to the caller at most.
UPDATE_INTERVAL = 0.05


@dataclass(frozen=True)
class Speaker:
    """Who the model plays: a name and the text that describes them."""

    name: str
    description: str
    greeting: str = ""


@dataclass(frozen=True)
class ReplyProgress:
    """The reply so far; the last one has ``done`` set and carries stats."""

    text: str
    done: bool = False
    finish_reason: FinishReason | None = None
    stats: GenerationStats | None = None


class ChatService:
    """Runs one turn at a time against the loaded model."""

    def __init__(
        self,
        models: ModelManager,
        sandbox: TemplateSandbox,
        *,
        sampler: SamplerSettings | None = None,
        max_new_tokens: int = 350,
    ) -> None:
        self._models = models
        self._sandbox = sandbox
        self._sampler = sampler or SamplerSettings(
            temperature=1.17, min_p=0.075, repeat_penalty=1.1
        )
        self._max_new_tokens = max_new_tokens

    def build_prompt(
        self, speaker: Speaker, history: Sequence[ChatTurn], user_text: str
    ) -> tuple[str, tuple[str, ...]]:
        """The prompt text for the next reply and its stop strings."""
        backend = self._models.current()
        info = backend.info
        turns = [ChatTurn("system", f"You are {speaker.name}. {speaker.description}".strip())]
        turns += list(history)
        turns.append(ChatTurn("user", user_text))
        template = info.chat_template or _CHATML
        text = render_chat_template(
            self._sandbox, template, turns, bos_token=info.bos_token, eos_token=info.eos_token
        )
        stops = tuple(s for s in (info.eos_token, "<|im_end|>", "<|eot_id|>") if s)
        return text, stops

    def reply(
        self, speaker: Speaker, history: Sequence[ChatTurn], user_text: str
    ) -> Iterator[ReplyProgress]:
        """Stream the reply to ``user_text``, throttled to ``UPDATE_INTERVAL``."""
        backend = self._models.current()
        prompt, stops = self.build_prompt(speaker, history, user_text)
        tokens = backend.tokenize(prompt, add_bos=backend.info.add_bos)
        request = GenerationRequest(tokens, self._sampler, self._max_new_tokens, stops)
        text, last_push = "", 0.0
        for event in backend.stream(request):
            if isinstance(event, TextDelta):
                text += event.text
                now = time.monotonic()
                if now - last_push >= UPDATE_INTERVAL:
                    last_push = now
                    yield ReplyProgress(text)
            elif isinstance(event, Finished):
                yield ReplyProgress(event.text, True, event.finish_reason, event.stats)

    def stop(self) -> None:
        """Stop the running reply; its text so far is kept by the caller."""
        if self._models.loaded:
            self._models.current().abort()


_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
