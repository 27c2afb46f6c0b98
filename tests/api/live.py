"""The API alone (no Gradio) for tests: in process behind starlette's TestClient, or, for
the tests that are about sockets, served by uvicorn in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import openai
import uvicorn
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.api.gate import GenerationGate
from app.api.router import install_api
from app.api.serving import BackendSource, OpenAIServing
from app.chat.api_prompts import ApiCharacterPrompts, ApiRequests
from app.chat.requests import PresetSource, RequestBuilder
from app.context import build_native_serving
from app.engine.base import Backend, Finished, GenerationEvent, GenerationRequest, ModelInfo
from app.errors import ModelNotLoaded
from app.prompt.sandbox import TemplateSandbox
from app.settings import Settings
from tests.servers import free_port

#: The body-size limit a plain :func:`api_app` has (the settings' default).
DEFAULT_MAX_REQUEST_BYTES: int = Settings.model_fields["max_request_bytes"].default


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
    characters: ApiCharacterPrompts | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> FastAPI:
    """A bare FastAPI app with only the OpenAI routes (no Gradio)."""
    app = FastAPI()
    requests = ApiRequests(RequestBuilder(TemplateSandbox(), presets), characters)
    serving = OpenAIServing(
        models,
        requests,
        max_request_bytes=max_request_bytes,
        gate=gate or GenerationGate(),
        api_key=api_key,
        disconnect_poll_seconds=0.05,
    )
    install_api(app, serving, build_native_serving(serving))
    return app


def openai_client(http: TestClient, key: str = "unused") -> openai.OpenAI:
    """The official client, talking to ``http``'s app in process."""
    base_url = f"{str(http.base_url).rstrip('/')}/v1"
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, http_client=http)


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


class RecordingBackend:
    """A real backend that records every request it runs and how each one finished."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.requests: list[GenerationRequest] = []
        self.finished: list[Finished] = []
        #: Text pieces each stream yielded, and the streams that are over (ended or closed).
        self.deltas: list[int] = []
        self.ended = 0

    @property
    def info(self) -> ModelInfo:
        return self.backend.info

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        return self.backend.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: Sequence[int], *, special: bool = True) -> str:
        return self.backend.detokenize(tokens, special=special)

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        self.requests.append(request)
        self.deltas.append(0)
        try:
            for event in self.backend.stream(request):
                if isinstance(event, Finished):
                    self.finished.append(event)
                else:
                    self.deltas[-1] += 1
                yield event
        finally:
            self.ended += 1

    def abort(self) -> None:
        self.backend.abort()

    def close(self) -> None:
        """The shared model stays loaded."""
