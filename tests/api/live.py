"""A uvicorn server in a background thread, for driving an ASGI app over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from app.api.gate import GenerationGate
from app.api.prompting import PresetSource, RequestPlanner
from app.api.router import create_router
from app.api.serving import BackendSource, OpenAIServing
from app.chat.api_prompts import CharacterPrompts
from app.engine.base import Backend
from app.errors import ModelNotLoaded
from app.prompt.sandbox import TemplateSandbox
from tests.servers import free_port


class FixedModels:
    """A BackendSource holding one backend (or none) that it never closes."""

    def __init__(self, backend: Backend | None) -> None:
        self.backend = backend

    @property
    def loaded(self) -> bool:
        return self.backend is not None

    def current(self) -> Backend:
        if self.backend is None:
            raise ModelNotLoaded()
        return self.backend


def api_app(
    models: BackendSource,
    *,
    api_key: str | None = None,
    gate: GenerationGate | None = None,
    presets: PresetSource | None = None,
    characters: CharacterPrompts | None = None,
) -> FastAPI:
    """A bare FastAPI app with only the OpenAI routes (no Gradio)."""
    app = FastAPI()
    planner = RequestPlanner(TemplateSandbox(), presets=presets, characters=characters)
    app.state.openai_serving = OpenAIServing(
        models,
        planner,
        gate=gate or GenerationGate(),
        api_key=api_key,
        disconnect_poll_seconds=0.05,
    )
    app.include_router(create_router())
    return app


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
