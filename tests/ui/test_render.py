"""Markdown with roleplay conventions, the nh3 allow-list, and the chat pane's markup."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.chat.views import ChatView, ShownMessage
from app.storage.types import Chat, GenInfo, Message, Role
from app.ui.render import (
    WINDOW,
    ChatHtml,
    ChatNames,
    MarkdownRenderer,
    details_line,
    meter_html,
    status_html,
)
from app.ui.state import Selection

NOW = datetime(2025, 1, 1, tzinfo=UTC)
PAYLOADS = [
    "<script>window.__xss = 1</script>",
    '<img src="x" onerror="window.__xss = 2">',
    "[click](javascript:window.__xss=3)",
    '<a href="javascript:window.__xss=4">raw</a>',
    '<svg onload="window.__xss=5"><circle r="4"/></svg>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<style>body { display: none }</style>",
    '<div style="position:fixed;inset:0">cover</div>',
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    '<form action="/x"><input name="q"></form>',
    '<img src="https://example.org/a.png" onload="alert(1)">',
]


@pytest.fixture
def md() -> MarkdownRenderer:
    return MarkdownRenderer()


def message(mid: int, text: str, role: Role = Role.ASSISTANT, **info: object) -> Message:
    return Message(
        id=mid, chat_id=1, parent_id=mid - 1 if mid > 1 else None, role=role, speaker="Mira",
        content=text, created_at=NOW, gen_info=GenInfo(**info),  # type: ignore[arg-type]
        extra={}, active_child_id=None, sibling_index=0,
    )  # fmt: skip


def view(*items: ShownMessage, chat_id: int = 1) -> ChatView:
    chat = Chat(chat_id, "A chat", (1,), None, {}, 1, NOW, NOW)
    return ChatView(chat, "Mira", list(items))


NAMES = ChatNames("Mira", "Wren")


def test_actions_are_italic_and_speech_is_marked(md: MarkdownRenderer) -> None:
    out = md.render('*She waves.* "Hello there," she says. “Curly too.”')
    assert "<em>She waves.</em>" in out
    assert '<span class="rp-speech">"Hello there,"</span>' in out
    assert '<span class="rp-speech">“Curly too.”</span>' in out


def test_speech_spans_stay_well_formed_around_emphasis(md: MarkdownRenderer) -> None:
    out = md.render('"Hi *waves* there"')
    assert out.count('<span class="rp-speech">') == out.count("</span>") == 3
    assert "<em><span" in out  # reopened inside the emphasis, closed before it ends


def test_unpaired_quotes_and_code_are_left_alone(md: MarkdownRenderer) -> None:
    assert "rp-speech" not in md.render('He is 6" tall.')
    out = md.render('`say "x"` and "y"')
    assert '<code>say "x"</code>' in out or "<code>say &quot;x&quot;</code>" in out
    assert '<span class="rp-speech">"y"</span>' in out


def test_markdown_basics_and_line_breaks(md: MarkdownRenderer) -> None:
    out = md.render("**bold** ~~gone~~\nnext line\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in out and "<s>gone</s>" in out
    assert "<br>" in out and "<table>" in out


DANGEROUS = [
    re.compile(r"<(script|iframe|style|svg|form|input|object|embed)\b"),
    re.compile(r"\s(on[a-z]+|style|srcdoc|formaction)\s*="),
    re.compile(r"(href|src)\s*=\s*[\"']?\s*(javascript|data|vbscript):"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_are_neutralised(md: MarkdownRenderer, payload: str) -> None:
    out = md.render(f"Before {payload} after").lower()
    for pattern in DANGEROUS:
        assert not pattern.search(out), (payload, out)
    assert "before" in out and "after" in out


def test_links_are_kept_safe_and_open_elsewhere(md: MarkdownRenderer) -> None:
    out = md.render("[site](https://example.org/page)")
    assert 'href="https://example.org/page"' in out
    assert 'target="_blank"' in out and "noopener" in out


def test_images_load_only_from_parlor_unless_remote_images_are_allowed(
    md: MarkdownRenderer,
) -> None:
    inline = "data:image/png;base64,iVBORw0KGgo="
    text = f'![pixel](https://tracker.example/p.png) <img src="{inline}" alt="inline">'
    out = md.render(text)
    assert "tracker.example" not in out and 'alt="pixel"' in out
    assert f'src="{inline}"' in out
    assert "data:text" not in md.render('<a href="data:text/html,x">x</a>')
    allowed = MarkdownRenderer(remote_images=True).render(text)
    assert 'src="https://tracker.example/p.png"' in allowed and f'src="{inline}"' in allowed
    assert "data:text" not in MarkdownRenderer(remote_images=True).render(
        '<img src="data:text/html,x">'
    )


def test_render_cache_returns_the_same_markup(md: MarkdownRenderer) -> None:
    first = md.render("*same*")
    assert md.render("*same*") == first == md.render_uncached("*same*")


def test_message_markup_escapes_names_and_carries_controls() -> None:
    html_ = ChatHtml(MarkdownRenderer())
    evil = "<b onmouseover=x>Mira</b>"
    item = ShownMessage(replace(message(7, "Hi {{user}}, I am {{char}}."), speaker=evil), 1, 3)
    names = ChatNames(evil, "Wren")
    out = html_.message(item, names)
    assert 'data-message-id="7"' in out
    assert "&lt;b onmouseover=x&gt;Mira&lt;/b&gt;" in out and "<b onmouseover" not in out
    assert "Hi Wren, I am <b>Mira</b>." in out  # macros filled in, then sanitized
    assert "onmouseover" not in out.replace("&lt;b onmouseover", "")
    assert '<span class="swipe-count">2/3</span>' in out
    assert 'data-act="prev">' in out and 'data-act="next">' in out  # both enabled
    for act in ("edit", "branch", "delete"):
        assert f'data-act="{act}"' in out


def test_swipe_buttons_disable_where_there_is_nothing_to_show() -> None:
    html_ = ChatHtml(MarkdownRenderer())
    first = html_.message(ShownMessage(message(1, "a"), 0, 1), NAMES)
    assert 'data-act="prev" disabled' in first
    assert 'data-act="next">' in first  # swiping right past the last generates
    user = html_.message(ShownMessage(message(2, "u", Role.USER), 1, 2), NAMES)
    assert 'data-act="next" disabled' in user  # users' messages do not generate
    plain_user = html_.message(ShownMessage(message(3, "u", Role.USER), 0, 1), NAMES)
    assert "swipe-count" not in plain_user


def test_details_line_says_how_a_reply_went() -> None:
    info = GenInfo(
        model="m", preset="Short", seed=42, prompt_tokens=100, completion_tokens=12,
        tokens_reused=90, tokens_evaluated=10, timings={"tokens_per_s": 23.456},
        finish_reason="aborted", stopped=True,
    )  # fmt: skip
    line = details_line(info)
    for part in ("12 tokens", "23.5 tokens/s", "prompt 100, 90 reused, 10 evaluated", "seed 42",
                 "preset Short", "stopped"):  # fmt: skip
        assert part in line
    assert details_line(GenInfo(finish_reason="stop")).endswith("complete")
    assert details_line(GenInfo()) == ""


def test_patch_sends_everything_first_then_only_what_changed() -> None:
    html_ = ChatHtml(MarkdownRenderer())
    items = [ShownMessage(message(i, f"m{i}"), 0, 1) for i in range(1, 4)]
    patch, shown = html_.patch(view(*items), NAMES, None)
    assert patch["reset"] is True and str(patch["html"]).count('class="msg ') == 3
    grown = [*items, ShownMessage(message(4, "new"), 0, 1)]
    patch, shown = html_.patch(view(*grown), NAMES, shown)
    assert patch["keep"] == 3 and str(patch["tail"]).count('class="msg ') == 1
    swiped = [*items[:2], ShownMessage(message(9, "other"), 1, 2)]
    patch, _ = html_.patch(view(*swiped), NAMES, shown)
    assert patch["keep"] == 2 and 'data-message-id="9"' in str(patch["tail"])
    other, _ = html_.patch(view(*items, chat_id=2), NAMES, shown)
    assert other["reset"] is True


def test_long_chats_open_with_the_last_messages_and_load_earlier_ones() -> None:
    html_ = ChatHtml(MarkdownRenderer())
    items = [ShownMessage(message(i, f"m{i}"), 0, 1) for i in range(1, 2001)]
    patch, shown = html_.patch(view(*items), NAMES, None)
    assert str(patch["html"]).count('class="msg ') == WINDOW
    assert patch["more"] == 2000 - WINDOW and shown.start == 2000 - WINDOW
    patch, shown = html_.patch(view(*items), NAMES, shown, earlier=200)
    assert str(patch["prepend"]).count('class="msg ') == 200 and patch["more"] == 1700
    assert 'data-message-id="1701"' in str(patch["prepend"])


def test_meter_and_status_escape() -> None:
    assert "Context 1,200 / 2,048 tokens" in meter_html(1200, 2048)
    assert "No model" in meter_html(None, None, "No model loaded")
    assert "&lt;x&gt;" in status_html("<x>", error=True)


def test_selection_round_trips_through_the_url_and_storage() -> None:
    sel = Selection(3, 12)
    assert sel.query() == "?character=3&chat=12"
    assert Selection.from_query({"character": "3", "chat": "12"}) == sel
    assert Selection.from_json(sel.to_json()) == sel
    assert Selection.from_query({"chat": "x1", "character": "-2"}).empty
    assert Selection.from_json("garbage").empty


def test_each_group_member_speaks_under_its_own_name_and_avatar() -> None:
    html_ = ChatHtml(MarkdownRenderer())
    png = "data:image/png;base64,"
    names = ChatNames("Ann", "Wren", members=(("Ann", png + "QQ=="), ("Bob", png + "Qg==")))
    ann, bob = (
        html_.message(ShownMessage(replace(message(i, "Hi."), speaker=who), 0, 1), names)
        for i, who in ((1, "Ann"), (2, "Bob"))
    )
    assert '<i class="msg-avatar av-assistant av-m0">' in ann and ">Ann</b>" in ann
    assert '<i class="msg-avatar av-assistant av-m1">' in bob and ">Bob</b>" in bob
    style = html_.patch(view(), names, None)[0]["html"]
    assert '.av-m1{background-image:url("data:image/png;base64,Qg==")}' in style
