"""UI fixtures: the app built on a scripted backend, a live server, and Debian's Chromium.

``playwright install`` cannot work offline, so the browser tests launch
``/usr/bin/chromium``.  The live server runs ``python launch.py`` (the real SmolLM2
model) in a data folder prepared before it starts: its ``presets/`` folder shadows the
bundled ``Universal-Light`` with a 16-token reply length (replies stay short on a slow
machine) and adds ``Long`` (300 tokens, EOS banned) for the stop tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.context import AppContext, build_context
from app.engine.base import GenerationEvent, GenerationRequest
from app.engine.fake import FakeBackend
from app.settings import Settings
from app.ui.app import UiBundle, build_ui
from tests.paths import SILLYTAVERN
from tests.servers import serve_parlor

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHORT_PRESET = "name: Universal-Light\ntemperature: 0.7\nmin_p: 0.1\nmax_new_tokens: 16\n"
LONG_PRESET = "name: Long\ntemperature: 0.8\nmin_p: 0.05\nmax_new_tokens: 300\nban_eos: true\n"


class SlowBackend(FakeBackend):
    """The scripted backend, pausing ``delay`` seconds before each chunk."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__(n_ctx=8192)
        self.delay = delay

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """Like FakeBackend.stream, one chunk every ``delay`` seconds."""
        for event in super().stream(request):
            time.sleep(self.delay)
            yield event


# ------------------------------------------------------------------ in-process app


@pytest.fixture(scope="session")
def sillytavern_dir() -> Path:
    """The saved SillyTavern reference files."""
    assert SILLYTAVERN.is_dir(), f"missing reference folder {SILLYTAVERN}"
    return SILLYTAVERN


@pytest.fixture
def backend() -> SlowBackend:
    """The scripted backend the in-process app generates with."""
    return SlowBackend()


@pytest.fixture
def context(tmp_path: Path, backend: SlowBackend) -> Iterator[AppContext]:
    """A full app context (starter cast imported) on the scripted backend."""
    ctx = build_context(Settings.load(data_dir=tmp_path / "home"), load_model=False)
    ctx.models.use(backend)
    yield ctx
    ctx.close()


@pytest.fixture
def ui(context: AppContext, tmp_path: Path) -> UiBundle:
    """The whole UI built on :func:`context` (handlers are called directly).

    Files under ``tmp_path`` count as uploaded, so tests can hand handlers their paths.
    """
    return build_ui(context, upload_roots=[tmp_path])


def card_file(folder: Path, name: str, **fields: object) -> Path:
    """A V2 JSON card file."""
    data = {"name": name, "description": f"{name} is a test character.",
            "first_mes": f"Hello, I am {name}.", **fields}  # fmt: skip
    path = folder / f"{name.lower()}.json"
    path.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}))
    return path


# ------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module.

    Playwright's sync API keeps an event loop running while it is open; closing it with
    each module keeps that loop from leaking into later tests that call ``asyncio.run``.
    """
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


#: Records every Gradio toast in ``window.__parlorToasts`` as "type: text".
TOAST_WATCH = """
window.__parlorToasts = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll('.toast-body:not([data-seen])')) {
    el.dataset.seen = '1';
    window.__parlorToasts.push(el.className + ': ' + el.innerText.replace(/\\s+/g, ' '));
  }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (its own storage) and page per test.

    The test fails on any Gradio error toast, any page error and any traceback the
    live server logs while it runs, so no page regresses silently.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(TOAST_WATCH)
    problems: list[str] = []
    context.on("page", lambda p: p.on("pageerror", lambda e: problems.append(f"page error: {e}")))
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.set_default_timeout(60_000)
    log = request.getfixturevalue("live_log") if "live_server" in request.fixturenames else None
    start = log.stat().st_size if log is not None and log.exists() else 0
    yield page
    for tab in context.pages:
        toasts = tab.evaluate("() => window.__parlorToasts || []")
        problems += [f"toast: {t}" for t in toasts if "error" in t.lower()]
    context.close()
    if log is not None:
        problems += server_tracebacks(log, start)
    assert not problems, "what a user saw go wrong:\n" + "\n".join(problems)


def server_tracebacks(log: Path, start: int) -> list[str]:
    """Each traceback the server wrote to ``log`` after byte ``start``, shortened."""
    with log.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode("utf-8", "replace")
    return [f"server: {chunk[:600]}" for chunk in text.split("Traceback (most recent")[1:]]


@pytest.fixture(scope="module")
def live_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of :func:`live_server`, with the short and long presets in it."""
    home = tmp_path_factory.mktemp("parlor-live")
    (home / "presets").mkdir()
    (home / "presets" / "Universal-Light.yaml").write_text(SHORT_PRESET)
    (home / "presets" / "Long.yaml").write_text(LONG_PRESET)
    return home


@pytest.fixture(scope="module")
def live_log(live_home: Path) -> Path:
    """Where :func:`live_server` writes its output."""
    return live_home.parent / f"{live_home.name}-server.log"


@pytest.fixture(scope="module")
def live_server(live_home: Path, live_log: Path) -> Iterator[str]:
    """``python launch.py`` with the bundled model, shared by one test module."""
    yield from serve_parlor(live_home, ["--threads", "2", "--n-ctx", "2048"], live_log)
