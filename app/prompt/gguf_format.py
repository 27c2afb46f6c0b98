"""The "GGUF" format: the same ingredients, rendered with the model's own chat template.

The story string and example dialogues become the system turn, history messages
and in-chat injections become user/assistant/system turns, and the result goes
through :func:`app.prompt.gguf_template.render_chat_template` in the sandbox.  A
leading BOS token that the template itself emits (``{{ bos_token }}``) is removed
because the engine adds BOS when it tokenizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.errors import ContextLengthExceeded, TemplateError
from app.prompt.gguf_template import ChatTurn, render_chat_template
from app.prompt.instruct import stopping_strings
from app.prompt.prepare import Msg, Prepared
from app.prompt.reasoning import Thinking
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import BuiltPrompt, PromptRequest, Segment, SegmentKind, TokenCounter

_CUT = "\u0000PARLOR-CUT\u0000"
#: The variable Qwen3-style chat templates switch thinking with.
THINKING_SWITCH = "enable_thinking"


def _turn(msg: Msg) -> ChatTurn:
    if msg.narrator:
        return ChatTurn("system", msg.mes)
    return ChatTurn("user" if msg.is_user else "assistant", msg.mes)


def _merged(turns: Sequence[ChatTurn]) -> list[ChatTurn]:
    """System turns become user turns and neighbours of one role are merged."""
    merged: list[ChatTurn] = []
    for turn in turns:
        role = "user" if turn.role == "system" else turn.role
        if merged and merged[-1].role == role:
            merged[-1] = ChatTurn(role, merged[-1].content + "\n\n" + turn.content)
        else:
            merged.append(ChatTurn(role, turn.content))
    return merged


class _GgufRenderer:
    """Renders turn lists with one model template, in one of three modes."""

    def __init__(self, request: PromptRequest, sandbox: TemplateSandbox) -> None:
        template = request.model.chat_template
        if not template:
            raise TemplateError(
                "GGUF", "the loaded model has no tokenizer.chat_template; pick another format"
            )
        self.template = template
        self.model = request.model
        self.sandbox = sandbox
        self.mode = request.generation
        self.merge = False
        self.variables = thinking_switch(template, request.reasoning.thinking)

    def raw(self, turns: Sequence[ChatTurn], *, generation_prompt: bool) -> str:
        """Render ``turns`` as they are (merged if the template needed that before)."""
        if self.merge:
            turns = _merged(turns)
        text = render_chat_template(
            self.sandbox,
            self.template,
            turns,
            bos_token=self.model.bos_token,
            eos_token=self.model.eos_token,
            add_generation_prompt=generation_prompt,
            variables=self.variables,
        )
        bos = self.model.bos_token
        emits_bos = "bos_token" in self.template
        return text[len(bos) :] if emits_bos and bos and text.startswith(bos) else text

    def render(self, turns: list[ChatTurn]) -> str:
        """The prompt for ``turns`` in this request's mode."""
        try:
            return self._render_mode(turns)
        except TemplateError:
            if self.merge:
                raise
            self.merge = True
            return self._render_mode(turns)

    def _render_mode(self, turns: list[ChatTurn]) -> str:
        if self.mode == "continue" and turns and turns[-1].role != "system":
            last = turns[-1]
            marked = [*turns[:-1], ChatTurn(last.role, last.content + _CUT)]
            text = self.raw(marked, generation_prompt=False)
            return text[: text.find(_CUT)]
        if self.mode == "impersonate":
            text = self.raw([*turns, ChatTurn("user", _CUT)], generation_prompt=False)
            return text[: text.find(_CUT)]
        return self.raw(turns, generation_prompt=True)


def thinking_switch(template: str, thinking: Thinking) -> dict[str, object]:
    """The chat template's own thinking switch (``enable_thinking``), where it has one."""
    if thinking == "auto" or THINKING_SWITCH not in template:
        return {}
    return {THINKING_SWITCH: thinking == "on"}


def _system_text(prepared: Prepared, n_examples: int) -> str:
    return (prepared.story + "".join(prepared.examples[:n_examples])).strip()


def _turns(prepared: Prepared, n_examples: int, dropped: int) -> tuple[list[ChatTurn], list[Msg]]:
    system = _system_text(prepared, n_examples)
    messages = prepared.messages[dropped:]
    turns = [ChatTurn("system", system)] if system else []
    turns += [_turn(m) for m in messages]
    return turns, messages


def _largest(low: int, high: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [low, high] with ``fits(n)``, given fits is monotone decreasing."""
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _choose(
    prepared: Prepared,
    renderer: _GgufRenderer,
    count: TokenCounter,
    padding: int,
    max_examples: int | None = None,
) -> tuple[int, int]:
    """How many example blocks to keep and how many old messages to drop."""
    limit = prepared.max_prompt

    def fits(n_examples: int, dropped: int) -> bool:
        text = renderer.render(_turns(prepared, n_examples, dropped)[0])
        return count(text) + padding <= limit

    n_all = len(prepared.examples[:max_examples])
    if fits(n_all, 0):
        return n_all, 0
    if fits(0, 0):
        return _largest(0, n_all, lambda n: fits(n, 0)), 0
    keep_last = 1 if renderer.mode == "continue" else 0
    max_drop = max(len(prepared.messages) - keep_last, 0)
    kept = _largest(0, max_drop, lambda k: fits(0, max_drop - k))
    return 0, max_drop - kept


def _segments(
    renderer: _GgufRenderer, turns: list[ChatTurn], msgs: list[Msg], text: str, has_system: bool
) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    done = 0
    if renderer.merge:
        return (Segment("generation", text, True),)
    for k in range(1, len(turns) + 1):
        try:
            partial = renderer.raw(turns[:k], generation_prompt=False)
        except TemplateError:
            continue
        if len(partial) <= done or not text.startswith(partial):
            continue
        msg = None if has_system and k == 1 else msgs[k - 1 - int(has_system)]
        kind: SegmentKind = "story" if msg is None else "message"
        if msg is not None and msg.kind in ("injection", "post_history"):
            kind = "injection" if msg.kind == "injection" else "post_history"
        volatile = msg is not None and msg.kind in ("injection", "post_history")
        segments.append(
            Segment(kind, text[done : len(partial)], volatile, None if msg is None else msg.index)
        )
        done = len(partial)
    if done < len(text):
        segments.append(Segment("generation", text[done:], True))
    return tuple(segments)


def build_gguf(
    request: PromptRequest, prepared: Prepared, count: TokenCounter, sandbox: TemplateSandbox
) -> BuiltPrompt:
    """Build a prompt with the loaded model's own chat template."""
    renderer = _GgufRenderer(request, sandbox)
    n_examples, dropped = _choose(
        prepared, renderer, count, request.settings.token_padding, request.max_examples
    )
    turns, msgs = _turns(prepared, n_examples, dropped)
    text = renderer.render(turns)
    bias = prepared.prompt_bias if request.generation not in ("continue", "impersonate") else ""
    text += bias
    n_tokens = count(text)
    if n_tokens >= request.n_ctx:
        raise ContextLengthExceeded(n_tokens, request.n_ctx)
    stop = stopping_strings(
        None,
        request.format.context,
        user=prepared.name1,
        char=prepared.name2,
        impersonate=request.generation == "impersonate",
        continue_on_user=False,
        custom=request.settings.custom_stop_strings,
        subst=prepared.sub,
        others=request.group.others(prepared.name2) if request.group else (),
    )
    if request.model.eos_token:
        stop.insert(0, request.model.eos_token)
    has_system = bool(_system_text(prepared, n_examples))
    continue_text = msgs[-1].mes if request.generation == "continue" and msgs else ""
    return BuiltPrompt(
        text=text,
        stop=tuple(dict.fromkeys(stop)),
        n_tokens=n_tokens,
        segments=_segments(renderer, turns, msgs, text, has_system),
        format_name=request.format.name,
        messages_in_context=sum(1 for m in msgs if m.index is not None),
        examples_in_context=n_examples,
        reply_prefix=bias,
        continue_text=continue_text,
        world_info=prepared.wi.activated,
        memories=prepared.memories,
        story_so_far=prepared.story_so_far,
    )
