"""Render a GGUF file's own ``tokenizer.chat_template`` (Hugging Face Jinja) safely."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.prompt.sandbox import TemplateSandbox


@dataclass(frozen=True)
class ChatTurn:
    """One message as chat templates see it: a role, the text and an optional name."""

    role: str
    content: str
    name: str | None = None


def render_chat_template(
    sandbox: TemplateSandbox,
    template: str,
    turns: Sequence[ChatTurn],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
    template_name: str = "GGUF chat template",
    variables: Mapping[str, object] | None = None,
) -> str:
    """Render ``turns`` with a Hugging Face chat template, in the sandbox.

    ``variables`` are the template's own switches (``enable_thinking`` …).
    """
    messages = [
        {"role": t.role, "content": t.content, **({"name": t.name} if t.name else {})}
        for t in turns
    ]
    return sandbox.render(
        template,
        name=template_name,
        messages=messages,
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
        **dict(variables or {}),
    )
