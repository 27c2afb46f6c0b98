"""UI speed benchmark in a real browser: open a 2,000-message chat, stream at 100+ tokens/s.

Run ``python bench/ui_bench.py`` (``--json out.json`` also writes the figures).  The app
runs in this process with a scripted backend that emits tokens at a fixed rate; every
fifth token carries its number and emission time (``[T<n>:<ms>]``), and a
MutationObserver in the page records when each one becomes visible, so *lag* is
emission → on screen.  Chromium is
Debian's (``/usr/bin/chromium``), driven by Playwright.

Targets: the long chat is on screen within 2 s of clicking it; at 100 tokens/s the
reply keeps up (every token shown) with a median lag of at most 250 ms.

``--serve`` only starts the app with the scripted backend (for trying the UI by hand);
``--screenshots DIR`` loads the bundled SmolLM2 instead and saves a PNG of each page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.context import AppContext, build_context
from app.engine.base import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    TextDelta,
)
from app.engine.fake import FakeBackend
from app.server import create_app
from app.settings import Settings
from app.storage.types import Role
from app.ui.render import EARLIER_STEP

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
PROSE = (
    'the lantern *sways* as she leans closer and whispers "not yet, not here" while '
    "rain drums on the glass of the old observatory and somewhere below a door creaks"
)
WORDS = PROSE.split()

#: In the page: record when each [T<n>:<ms>] marker first appears (streaming, or stored).
OBSERVER_JS = """
() => {
  window.__lags = []; window.__seen = new Set(); const start = Date.now();
  const scan = () => {
    const live = document.querySelector('#parlor-live');
    const last = document.querySelector('#parlor-chat .chat > .msg:last-child');
    const text = (live ? live.textContent : '') + (last ? last.textContent : '');
    for (const m of text.matchAll(/\\[T(\\d+):(\\d+)\\]/g)) {
      if (!window.__seen.has(m[1]) && Number(m[2]) >= start) {
        window.__seen.add(m[1]);
        window.__lags.push([Number(m[2]), Date.now()]);
      }
    }
  };
  new MutationObserver(scan).observe(document.body,
    {childList: true, subtree: true, characterData: true});
}
"""


class PacedBackend(FakeBackend):
    """Emits ``tokens`` tokens at ``rate`` per second; every 5th carries its emission time."""

    def __init__(self, *, rate: float = 100.0, tokens: int = 400) -> None:
        super().__init__(n_ctx=32768, name="paced")
        self.rate = rate
        self.tokens = tokens

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """Yield tokens on a fixed schedule (no catching up in bursts)."""
        with self._lock:
            self._abort.clear()
            started = time.monotonic()
            text, reason = "", "length"
            for index in range(self.tokens):
                due = started + index / self.rate
                time.sleep(max(0.0, due - time.monotonic()))
                if self._abort.is_set():
                    reason = "aborted"
                    break
                piece = (
                    f" [T{index}:{int(time.time() * 1000)}]"
                    if index % 5 == 0
                    else f" {WORDS[index % len(WORDS)]}"
                )
                text += piece
                yield TextDelta(piece)
            seconds = time.monotonic() - started
            stats = GenerationStats(
                len(request.prompt_tokens),
                index + 1,
                0,
                len(request.prompt_tokens),
                0.0,
                seconds,
                7,
            )
            yield Finished("aborted" if reason == "aborted" else "length", text, stats)


@dataclass
class Figure:
    """One measured quantity."""

    name: str
    value: float
    unit: str
    target: str
    ok: bool | None


def start_server(context: AppContext, port: int) -> uvicorn.Server:
    """Serve the app in a background thread; return once it answers."""
    config = uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the app did not start")
        time.sleep(0.1)
    return server


def long_chat(context: AppContext, n_messages: int) -> tuple[int, int]:
    """A chat with ``n_messages`` messages (every tenth reply has a second swipe)."""
    stores = context.stores
    character = stores.characters.list_characters()[0]
    chat = context.chat.new_chat(character.id)
    chats = stores.chats
    parent = chats.active_path(chat.id)[-1].id
    with context.db.write() as session:
        for index in range(n_messages - 1):
            role = Role.USER if index % 2 == 0 else Role.ASSISTANT
            words = " ".join(WORDS[(index + k) % len(WORDS)] for k in range(40))
            text = f'Message {index}: *{words[:60]}* "{words[60:140]}" {words[140:]}'
            if role == Role.ASSISTANT and index % 20 == 1:
                chats.add_message(
                    chat.id,
                    parent,
                    role=role,
                    speaker=character.name,
                    content="An older swipe. " + text,
                    session=session,
                )
            message = chats.add_message(
                chat.id, parent, role=role, speaker=character.name, content=text, session=session
            )
            parent = message.id
    chats.rename(chat.id, f"Long chat ({n_messages} messages)")
    return chat.id, parent


def painted(page: Any) -> None:
    """Wait for two animation frames (the browser has laid out and painted)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def timed_load(page: Any, url: str, selector: str) -> float:
    """Seconds from navigation until ``selector`` is in the page and painted."""
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(selector, state="attached", timeout=60_000)
    painted(page)
    return time.perf_counter() - started


def measure_open(page: Any, base: str, chat_id: int, last_id: int, other_id: int) -> list[Figure]:
    """Page loads (long and one-message chat), a click in the chat list, earlier messages."""
    selector = f'#parlor-chat .msg[data-message-id="{last_id}"]'
    long_load = statistics.median(
        [timed_load(page, f"{base}/?chat={chat_id}", selector) for _ in range(3)]
    )
    short_load = statistics.median(
        [timed_load(page, f"{base}/?chat={other_id}", "#parlor-chat .msg") for _ in range(3)]
    )
    clicks, earlier = [], []
    for _ in range(3):
        page.goto(f"{base}/?chat={other_id}")
        page.wait_for_selector("#parlor-chat .msg", state="attached")
        label = page.locator("#parlor-chat-list label").filter(has_text="Long chat")
        started = time.perf_counter()
        label.click()
        page.wait_for_selector(selector, state="attached", timeout=60_000)
        painted(page)
        clicks.append(time.perf_counter() - started)
        count = page.locator("#parlor-chat .chat > .msg").count()
        started = time.perf_counter()
        page.locator(".chat-earlier").click()
        page.wait_for_function(
            "n => document.querySelectorAll('#parlor-chat .chat > .msg').length > n", arg=count
        )
        painted(page)
        earlier.append(time.perf_counter() - started)
    opened = statistics.median(clicks)
    return [
        Figure("page load into a one-message chat (Gradio start-up), median of 3", short_load,
               "s", "-", None),
        Figure("page load straight into the 2,000-message chat, median of 3", long_load, "s",
               "-", None),
        Figure("open the 2,000-message chat from the chat list, median of 3", opened, "s",
               "<= 2 s", opened <= 2.0),
        Figure(f"show {EARLIER_STEP} earlier messages, median of 3", statistics.median(earlier),
               "s", "-", None),
    ]  # fmt: skip


def measure_stream(page: Any, base: str, chat_id: int, backend: PacedBackend) -> list[Figure]:
    """Send a message, record each marker's lag, and how fast the screen kept pace."""
    page.goto(f"{base}/?chat={chat_id}")
    page.wait_for_selector("#parlor-chat .msg", state="attached")
    page.evaluate(OBSERVER_JS)
    box = page.locator("#parlor-input textarea")
    box.fill("Tell me a story.")
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#parlor-status')?.textContent.includes('tokens/s')",
        timeout=120_000,
    )
    pairs: list[list[int]] = page.evaluate("() => window.__lags")
    lags = sorted(seen - emitted for emitted, seen in pairs)
    expected = (backend.tokens + 4) // 5
    shown = page.locator("#parlor-chat .chat > .msg:last-child .msg-body").inner_text()
    complete = shown.count("[T") == expected
    p95 = lags[max(0, int(len(lags) * 0.95) - 1)]
    span = (pairs[-1][1] - pairs[0][1]) / 1000 if len(pairs) > 1 else float("nan")
    shown_rate = (len(pairs) - 1) * 5 / span if span else 0.0
    label = f"{backend.rate:.0f} tokens/s"
    return [
        Figure(
            f"{label}: markers seen (while streaming or in the stored reply)",
            len(pairs),
            "",
            f"{expected}",
            len(pairs) == expected,
        ),
        Figure(
            f"{label}: tokens shown per second while streaming",
            shown_rate,
            "tok/s",
            ">= 95" if backend.rate <= 100 else "-",
            shown_rate >= 95 if backend.rate <= 100 else None,
        ),
        Figure(
            f"{label}: lag emission → screen, median",
            statistics.median(lags),
            "ms",
            "<= 250 ms",
            statistics.median(lags) <= 250,
        ),
        Figure(f"{label}: lag emission → screen, p95", p95, "ms", "-", None),
        Figure(f"{label}: lag emission → screen, max", max(lags), "ms", "-", None),
        Figure(f"{label}: stored reply holds every token", float(complete), "", "1", complete),
    ]


def run_bench(args: argparse.Namespace) -> list[Figure]:
    """Build the app with the paced backend, then measure in Chromium."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="parlor-ui-bench-") as home:
        context = build_context(Settings.load(data_dir=Path(home)), load_model=False)
        backend = PacedBackend(rate=args.rate, tokens=args.tokens)
        context.models.use(backend)
        chat_id, last_id = long_chat(context, args.messages)
        short = context.chat.new_chat(context.stores.characters.list_characters()[0].id)
        server = start_server(context, args.port)
        base = f"http://127.0.0.1:{args.port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                figures = measure_open(page, base, chat_id, last_id, short.id)
                for rate in args.rates:
                    backend.rate = rate
                    figures += measure_stream(page, base, short.id, backend)
                browser.close()
        finally:
            server.should_exit = True
            context.close()
    return figures


def serve(args: argparse.Namespace) -> None:
    """Serve the app with the paced backend (and a long chat) until interrupted."""
    home = Path(tempfile.mkdtemp(prefix="parlor-ui-dev-"))
    context = build_context(Settings.load(data_dir=home), load_model=False)
    context.models.use(PacedBackend(rate=args.rate, tokens=args.tokens))
    long_chat(context, args.messages)
    start_server(context, args.port)
    print(f"serving http://127.0.0.1:{args.port} (data in {home})", flush=True)
    threading.Event().wait()


SCREENS = (
    ("Characters", "characters"),
    ("Personas", "personas"),
    ("Lorebooks", "lorebooks"),
    ("Presets & templates", "presets"),
    ("Models", "models"),
    ("Settings", "settings"),
)


def take_screenshots(folder: Path, port: int) -> None:
    """Real model (the bundled SmolLM2), one short exchange, then a PNG of every page."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=600_000)  # the real model on a busy machine can be slow

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="parlor-shots-") as home:
        (Path(home) / "presets").mkdir()
        (Path(home) / "presets" / "Universal-Light.yaml").write_text(
            "name: Universal-Light\ntemperature: 0.7\nmin_p: 0.1\nmax_new_tokens: 60\n"
        )
        settings = Settings.load(data_dir=Path(home), n_ctx=2048, threads=2)
        context = build_context(settings)
        context.stores.personas.create(
            "Wren", description="A courier who asks too many questions.", is_default=True
        )
        server = start_server(context, port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(300_000)
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator("#parlor-character input").click()
                page.get_by_role("option", name="Ysolde Marrow", exact=True).click()
                expect(page.locator("#parlor-header")).to_contain_text("Ysolde")
                box = page.locator("#parlor-input textarea")
                box.fill("Good evening! What are you reading tonight?")
                box.press("Enter")
                expect(page.locator("#parlor-status")).to_contain_text("tokens/s")
                page.wait_for_timeout(1500)
                page.screenshot(path=str(folder / "chat.png"))
                for tab, name in SCREENS:
                    page.get_by_role("tab", name=tab, exact=True).click()
                    page.wait_for_timeout(2500)
                    page.screenshot(path=str(folder / f"{name}.png"))
                browser.close()
        finally:
            server.should_exit = True
            context.close()


def report(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table."""
    lines = ["| measurement | value | target | ok |", "|---|---:|---|---|"]
    for f in figures:
        ok = "" if f.ok is None else ("yes" if f.ok else "**no**")
        value = f"{f.value:.2f}" if f.unit in ("s",) else f"{f.value:.0f}"
        lines.append(f"| {f.name} | {value} {f.unit} | {f.target} | {ok} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="tokens/s for --serve")
    parser.add_argument(
        "--rates",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[100.0, 200.0],
        help="streaming rates to measure, comma-separated",
    )
    parser.add_argument("--tokens", type=int, default=400, help="tokens per reply")
    parser.add_argument("--port", type=int, default=7877)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--serve", action="store_true", help="only serve the app")
    parser.add_argument("--screenshots", type=Path, help="save page screenshots here")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    if args.screenshots:
        take_screenshots(args.screenshots, args.port)
        return 0
    figures = run_bench(args)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
