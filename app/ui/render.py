"""Chat messages as HTML: markdown with roleplay conventions, sanitized with nh3.

Message text is untrusted (it comes from character cards and the model), so every
body goes through markdown-it and then an nh3 allow-list; names and every other value
placed in the surrounding markup are escaped.  Rendered bodies are cached by their text,
so re-showing a long chat costs one dictionary lookup per message.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from app.chat.thinking import Thought
from app.chat.views import ChatView, ShownMessage, display_text
from app.prompt.itemize import PromptPart
from app.storage.types import GenInfo, Message, Role

ALLOWED_TAGS: Final = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
        "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: Final = {
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "ol": frozenset({"start"}),
    "td": frozenset({"align"}),
    "th": frozenset({"align"}),
}
URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})
#: The only ``data:`` URLs kept: images embedded in the text itself.
INLINE_IMAGE: Final = "data:image/"
SPEECH_CLASS: Final = "rp-speech"
_OPEN_QUOTES: Final = {'"': '"', "“": "”", "«": "»"}


class MarkdownRenderer:
    """Markdown → sanitized HTML, with ``*actions*`` in italics and "speech" marked."""

    def __init__(self, cache_size: int = 20_000, *, remote_images: bool = False) -> None:
        self._md = MarkdownIt("commonmark", {"html": True, "breaks": True}).enable(
            ["table", "strikethrough"]
        )
        self._md.core.ruler.push("rp_speech", _speech_rule)
        self._cleaner = nh3.Cleaner(
            tags=set(ALLOWED_TAGS),
            attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
            url_schemes=set(URL_SCHEMES) | {"data"},
            allowed_classes={"span": {SPEECH_CLASS}},
            link_rel="noopener noreferrer nofollow",
            set_tag_attribute_values={"a": {"target": "_blank"}},
            attribute_filter=_remote_images if remote_images else _local_images,
        )
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    def sanitize(self, fragment: str) -> str:
        """``fragment`` with everything outside the allow-list removed."""
        return str(self._cleaner.clean(fragment))

    def render(self, text: str) -> str:
        """Markdown ``text`` as safe HTML (cached by text)."""
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached
        out = self.render_uncached(text)
        self._cache[text] = out
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    def render_uncached(self, text: str) -> str:
        """Markdown ``text`` as safe HTML, bypassing the cache (for streaming text)."""
        return self.sanitize(self._md.render(text))


def _local_images(tag: str, attribute: str, value: str) -> str | None:
    """Keep only ``data:image/`` sources on images; no ``data:`` links anywhere."""
    if tag == "img" and attribute == "src":
        return value if value.startswith(INLINE_IMAGE) else None
    return _remote_images(tag, attribute, value)


def _remote_images(tag: str, attribute: str, value: str) -> str | None:
    """Images may load from other sites too; ``data:`` stays limited to inline images."""
    if attribute in ("src", "href") and value.strip().lower().startswith("data:"):
        return value if tag == "img" and value.startswith(INLINE_IMAGE) else None
    return value


def _speech_rule(state: StateCore) -> None:
    """Wrap quoted speech of every inline block in ``<span class="rp-speech">``."""
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = _mark_speech(block.children)


def _tag(markup: str) -> Token:
    token = Token("html_inline", "", 0)
    token.content = markup
    return token


def _mark_speech(children: list[Token]) -> list[Token]:
    """Split text tokens at quotes; spans are closed around nested tags so HTML stays valid."""
    budget = sum(t.content.count('"') for t in children if t.type == "text")
    straight_left = budget - budget % 2  # an unpaired trailing " is left alone
    out: list[Token] = []
    closer: str | None = None
    for token in children:
        if token.type != "text":
            if closer is not None and token.nesting != 0:
                out += [_tag("</span>"), token, _tag(f'<span class="{SPEECH_CLASS}">')]
            else:
                out.append(token)
            continue
        piece = ""
        for char in token.content:
            opens = closer is None and char in _OPEN_QUOTES
            if opens and char == '"' and straight_left <= 0:
                opens = False
            if opens:
                out.append(_text(piece))
                out.append(_tag(f'<span class="{SPEECH_CLASS}">'))
                piece, closer = char, _OPEN_QUOTES[char]
                straight_left -= char == '"'
            elif closer is not None and char == closer:
                out += [_text(piece + char), _tag("</span>")]
                piece, closer = "", None
                straight_left -= char == '"'
            else:
                piece += char
        out.append(_text(piece))
    if closer is not None:
        out.append(_tag("</span>"))
    return [t for t in out if t.type != "text" or t.content]


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


# ---------------------------------------------------------------------------- chat markup


@dataclass(frozen=True)
class ChatNames:
    """Who is who in a chat, and their avatars as CSS-ready data URLs (or "")."""

    char: str
    user: str
    char_avatar: str = ""
    user_avatar: str = ""
    #: A group chat's members: (name, avatar URL or "") each, in order.
    members: tuple[tuple[str, str], ...] = ()

    def avatar_class(self, speaker: str) -> str:
        """The extra avatar class of a group member's message (" av-m0" …), else ""."""
        for index, (name, _url) in enumerate(self.members):
            if name == speaker:
                return f" av-m{index}"
        return ""


def details_line(info: GenInfo) -> str:
    """Tokens, speed, seed, preset and whether the reply was stopped, as plain text."""
    parts: list[str] = []
    if info.completion_tokens is not None:
        parts.append(f"{info.completion_tokens} tokens")
    speed = info.timings.get("tokens_per_s") if info.timings else None
    if isinstance(speed, int | float):
        parts.append(f"{speed:.1f} tokens/s")
    if info.prompt_tokens is not None:
        reused = f", {info.tokens_reused} reused" if info.tokens_reused else ""
        evaluated = (
            f", {info.tokens_evaluated} evaluated" if info.tokens_evaluated is not None else ""
        )
        parts.append(f"prompt {info.prompt_tokens}{reused}{evaluated}")
    if info.seed is not None:
        parts.append(f"seed {info.seed}")
    if info.preset:
        parts.append(f"preset {info.preset}")
    if info.model:
        parts.append(f"model {info.model}")
    if info.finish_reason or info.stopped:
        parts.append("stopped" if info.stopped else "complete")
    return " · ".join(parts)


@dataclass(frozen=True)
class Shown:
    """What one browser's chat pane holds: the chat, its style, and each message's markup hash.

    Kept per browser (in the selection's ``gr.State``) so the next update can send only
    what changed: a new reply costs one message, not the whole chat.  Only the last
    messages of a long chat are in the page (from ``start`` on); earlier ones come on request.
    """

    chat_id: int | None
    style: int
    start: int = 0
    messages: tuple[int, ...] = ()


#: What the chat pane's script applies: ``reset`` replaces everything with ``html``;
#: ``prepend`` adds earlier messages at the top; otherwise the first ``keep`` messages
#: stay and ``tail`` replaces the rest.  ``more`` is how many earlier messages are hidden.
ChatPatch = dict[str, object]
#: Messages of a chat put in the page when it opens.
WINDOW: Final = 100
#: Messages added per "Show earlier messages".
EARLIER_STEP: Final = 200
#: Messages shown above a search hit that is opened.
FOCUS_CONTEXT: Final = 20


class ChatHtml:
    """Builds the chat pane's markup from a :class:`ChatView`, as patches."""

    def __init__(self, renderer: MarkdownRenderer) -> None:
        self.renderer = renderer

    def patch(
        self, view: ChatView, names: ChatNames, before: Shown | None, *, earlier: int = 0
    ) -> tuple[ChatPatch, Shown]:
        """The update that turns what the browser shows (``before``) into ``view``.

        ``earlier`` asks for that many more messages above the ones shown.
        """
        style = _avatar_style(names)
        total = len(view.messages)
        same = before is not None and (before.chat_id, before.style) == (view.chat.id, hash(style))
        start = (
            max(0, min(before.start, total) - earlier)
            if before and same
            else (max(0, total - WINDOW))
        )
        show = view.chat.settings.reasoning.show
        parts = [self.message(item, names, reasoning=show) for item in view.messages[start:]]
        after = Shown(view.chat.id, hash(style), start, tuple(hash(part) for part in parts))
        chat = view.chat.id
        if before is None or not same:
            return self._reset(chat, style, start, parts), after
        added = before.start - start
        if added > 0:
            if after.messages[added:] != before.messages:
                return self._reset(chat, style, start, parts), after
            return {
                "reset": False,
                "chat": chat,
                "prepend": "".join(parts[:added]),
                "more": start,
            }, after
        keep = 0
        for old, new in zip(before.messages, after.messages, strict=False):
            if old != new:
                break
            keep += 1
        tail = "".join(parts[keep:])
        return {"reset": False, "chat": chat, "keep": keep, "tail": tail, "more": start}, after

    def focused(self, view: ChatView, names: ChatNames, message_id: int) -> tuple[ChatPatch, Shown]:
        """The whole pane redrawn from a little above ``message_id``, scrolled to it."""
        style = _avatar_style(names)
        ids = [item.message.id for item in view.messages]
        index = ids.index(message_id) if message_id in ids else len(ids)
        start = max(0, min(index - FOCUS_CONTEXT, len(ids) - WINDOW))
        show = view.chat.settings.reasoning.show
        parts = [self.message(item, names, reasoning=show) for item in view.messages[start:]]
        after = Shown(view.chat.id, hash(style), start, tuple(hash(part) for part in parts))
        patch = self._reset(view.chat.id, style, start, parts)
        patch["focus"] = message_id
        return patch, after

    @staticmethod
    def _reset(chat_id: int, style: str, start: int, parts: list[str]) -> ChatPatch:
        body = "".join(parts) or '<div class="chat-empty">No messages yet.</div>'
        markup = (
            f'<div class="chat" data-chat-id="{chat_id}">{style}'
            f'<button class="chat-earlier" data-act="earlier"></button>{body}</div>'
        )
        return {"reset": True, "chat": chat_id, "html": markup, "more": start}

    @staticmethod
    def notice(text: str) -> tuple[ChatPatch, Shown]:
        """A pane holding only a note (no chat open)."""
        markup = f'<div class="chat-empty">{html.escape(text)}</div>'
        return {"reset": True, "chat": None, "html": markup}, Shown(None, 0)

    def message(self, item: ShownMessage, names: ChatNames, *, reasoning: bool = True) -> str:
        """One message with its name, reasoning block, body, swipe controls and details.

        ``reasoning`` False leaves the reasoning block out (the chat hides reasoning).
        """
        message = item.message
        text = display_text(message.content, char=names.char, user=names.user)
        body = self.renderer.render(text)
        role = "user" if message.role == Role.USER else "assistant"
        stopped = " msg-stopped" if message.gen_info.stopped else ""
        thought = self.thought(item.thought, names, live=False) if reasoning else ""
        speaker = _speaker(message, names)
        member = names.avatar_class(speaker) if role == "assistant" else ""
        return (
            f'<div class="msg msg-{role}{stopped}" data-message-id="{message.id}">'
            f'<i class="msg-avatar av-{role}{member}"></i><div class="msg-main">'
            f'<div class="msg-head"><b class="msg-name">{html.escape(speaker)}</b>{_TOOLS}</div>'
            f'{thought}<div class="msg-body">{body}</div>'
            f'<div class="msg-foot">{_swipes(item)}{_details(message)}</div></div></div>'
        )

    def thought(self, thought: Thought, names: ChatNames, *, live: bool) -> str:
        """The collapsible reasoning block: open while the model thinks, else closed.

        A stored block has an edit control; one still being written is not editable.
        """
        if not thought.text and not (live and thought.thinking):
            return ""
        text = display_text(thought.text, char=names.char, user=names.user)
        body = self.renderer.render_uncached(text) if live else self.renderer.render(text)
        thinking = live and thought.thinking
        title = "Thinking…" if thinking else thought_title(thought.duration_ms)
        tools = "" if live else _REASONING_TOOLS
        return (
            f'<details class="msg-reasoning"{" open" if thinking else ""}><summary>'
            f'<span class="reasoning-title">{html.escape(title)}</span>{tools}</summary>'
            f'<div class="reasoning-body">{body}</div></details>'
        )

    def live(
        self,
        names: ChatNames,
        reply: str,
        *,
        user_text: str | None = None,
        label: str = "",
        thought: Thought | None = None,
    ) -> str:
        """The pane under the chat while a reply streams: a pending user message and the reply.

        ``thought`` is the reply's reasoning so far (None: the chat hides reasoning).
        """
        parts = []
        if user_text:
            body = self.renderer.render_uncached(
                display_text(user_text, char=names.char, user=names.user)
            )
            parts.append(_plain_message("user", names.user, body, "msg-pending"))
        text = display_text(reply, char=names.char, user=names.user)
        body = self.renderer.render_uncached(text) if text else ""
        above = self.thought(thought, names, live=True) if thought is not None else ""
        note = f'<div class="msg-foot"><span class="typing">{html.escape(label)}</span></div>'
        parts.append(_plain_message("assistant", names.char, body, "msg-streaming", note, above))
        return f'<div class="chat live">{"".join(parts)}</div>'


_TOOLS: Final = (
    '<span class="msg-tools"><button data-act="edit">✎</button>'
    '<button data-act="branch">↳</button><button data-act="delete">✕</button></span>'
)


_REASONING_TOOLS: Final = '<button class="reasoning-edit" data-act="reasoning">✎</button>'


def thought_title(duration_ms: int | None) -> str:
    """ "Thought for 3.2 s" (SillyTavern's "Thought for some time" when not timed)."""
    if duration_ms is None:
        return "Thought for some time"
    seconds = duration_ms / 1000
    if seconds < 60:
        return f"Thought for {seconds:.1f} s"
    return f"Thought for {int(seconds // 60)} min {round(seconds % 60)} s"


def _speaker(message: Message, names: ChatNames) -> str:
    if message.role == Role.USER:
        return names.user
    return message.speaker or names.char


def _plain_message(
    role: str, name: str, body: str, extra: str, foot: str = "", above: str = ""
) -> str:
    return (
        f'<div class="msg msg-{role} {extra}">'
        f'<i class="msg-avatar av-{role}"></i><div class="msg-main">'
        f'<div class="msg-head"><b class="msg-name">{html.escape(name)}</b></div>'
        f'{above}<div class="msg-body">{body}</div>{foot}</div></div>'
    )


def _swipes(item: ShownMessage) -> str:
    if item.message.role == Role.USER and item.swipe_count <= 1:
        return ""
    left = " disabled" if item.swipe_index == 0 else ""
    last = item.swipe_index >= item.swipe_count - 1
    right = " disabled" if item.message.role == Role.USER and last else ""
    return (
        f'<span class="swipes"><button class="swipe-prev" data-act="prev"{left}>◀</button>'
        f'<span class="swipe-count">{item.swipe_index + 1}/{item.swipe_count}</span>'
        f'<button class="swipe-next" data-act="next"{right}>▶</button></span>'
    )


def _details(message: Message) -> str:
    line = details_line(message.gen_info)
    if not line:
        return ""
    summary = '<summary title="Details">i</summary>'
    return f'<details class="msg-info">{summary}<span>{html.escape(line)}</span></details>'


def _avatar_style(names: ChatNames) -> str:
    rules = []
    for role, url in (("assistant", names.char_avatar), ("user", names.user_avatar)):
        if url.startswith("data:image/png;base64,"):
            rules.append(f'.chat .msg-avatar.av-{role}{{background-image:url("{url}")}}')
    for index, (_name, url) in enumerate(names.members):
        if url.startswith("data:image/png;base64,"):
            rules.append(f'.chat .msg-avatar.av-m{index}{{background-image:url("{url}")}}')
    return f"<style>{''.join(rules)}</style>" if rules else ""


def meter_html(prompt_tokens: int | None, n_ctx: int | None, note: str = "") -> str:
    """The token meter: prompt tokens out of the context size."""
    if prompt_tokens is None or not n_ctx:
        return f'<div class="meter meter-empty">{html.escape(note or "Context: –")}</div>'
    share = min(100.0, 100.0 * prompt_tokens / n_ctx)
    return (
        f'<div class="meter" title="Prompt tokens of the next reply / context size">'
        f"<span>Context {prompt_tokens:,} / {n_ctx:,} tokens</span>"
        f'<progress max="100" value="{share:.0f}"></progress></div>'
    )


def status_html(text: str, *, error: bool = False) -> str:
    """One escaped status line."""
    kind = "status-error" if error else "status"
    return f'<div class="{kind}">{html.escape(text)}</div>' if text else ""


def text_list_html(lines: Sequence[str], *, title: str = "") -> str:
    """Escaped lines as a list (import reports)."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    head = f"<p>{html.escape(title)}</p>" if title else ""
    return f'<div class="report">{head}<ul>{items}</ul></div>' if lines or head else ""


def prompt_parts_html(parts: Sequence[PromptPart]) -> str:
    """The prompt's parts with their token counts, as a small table."""
    if not parts:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(part.label)}</td><td>{part.tokens:,}</td></tr>" for part in parts
    )
    return (
        '<table class="prompt-parts"><thead><tr><th>Part</th><th>Tokens</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
