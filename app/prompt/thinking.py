"""The thinking switch written into a built prompt, where the chat template has none.

A GGUF chat template with its own switch (``enable_thinking``) is left to it.

``on`` opens the reasoning block at the end of the prompt; ``off`` writes an empty,
closed one (what Qwen3's template does with ``enable_thinking`` false), or closes the
block a template (DeepSeek-R1's) opened.  The text goes before "Start Reply With", so a
reply prefix still starts the answer.
"""

from __future__ import annotations

from dataclasses import replace

from app.errors import ContextLengthExceeded
from app.prompt.gguf_format import thinking_switch
from app.prompt.reasoning import prefill
from app.prompt.types import BuiltPrompt, PromptRequest, Segment, TokenCounter


def with_thinking(built: BuiltPrompt, request: PromptRequest, count: TokenCounter) -> BuiltPrompt:
    """``built`` with the thinking switch's text written in (unchanged when none is due)."""
    settings = request.reasoning
    if request.generation in ("continue", "impersonate") or not built.segments:
        return built
    if request.format.kind == "gguf" and thinking_switch(
        request.model.chat_template or "", settings.thinking
    ):
        return built  # the chat template switched thinking itself
    head = built.text[: len(built.text) - len(built.reply_prefix)]
    piece = prefill(head, settings.template, settings.thinking)
    if not piece:
        return built
    text = head + piece + built.reply_prefix
    n_tokens = count(text)
    if n_tokens >= request.n_ctx:
        raise ContextLengthExceeded(n_tokens, request.n_ctx)
    segments = _insert(built.segments, len(built.reply_prefix), piece)
    return replace(built, text=text, n_tokens=n_tokens, segments=segments)


def _insert(segments: tuple[Segment, ...], tail: int, piece: str) -> tuple[Segment, ...]:
    """``piece`` as a generation segment, ``tail`` characters before the end."""
    last = segments[-1]
    cut = len(last.text) - tail
    parts = (
        replace(last, text=last.text[:cut]),
        Segment("generation", piece, True),
        replace(last, text=last.text[cut:]),
    )
    return (*segments[:-1], *(s for s in parts if s.text))
