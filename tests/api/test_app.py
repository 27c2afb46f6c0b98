"""The API inside the real app: beside the Gradio UI, and the ``--remote-*`` settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.api.serving import OpenAIServing
from app.context import AppContext, build_context
from app.engine.fake import FakeBackend
from app.engine.remote import RemoteBackend
from app.settings import Settings
from tests.api.live import openai_client
from tests.servers import free_port

#: The UI refuses requests addressed to anything but loopback (DNS rebinding).
LOOPBACK = "http://127.0.0.1:7860"


@pytest.fixture
def context() -> Iterator[AppContext]:
    """The composition root with an API key, a small body limit and a fake backend."""
    ctx = build_context(Settings.load(api_key="sekrit", max_request_bytes=4096), load_model=False)
    ctx.models.use(FakeBackend())
    yield ctx
    ctx.close()


@pytest.fixture
def app(context: AppContext) -> FastAPI:
    from app.server import create_app  # imports gradio: slow, so only here

    return create_app(context)


def test_routes_sit_beside_the_gradio_ui(context: AppContext, app: FastAPI) -> None:
    backend = context.models.current()
    assert isinstance(backend, FakeBackend)
    character = context.stores.characters.list_characters()[0].name
    with TestClient(app, base_url=LOOPBACK) as http:
        api = openai_client(http, "sekrit")
        models = [m.id for m in api.models.list().data]
        reply = api.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "hi"}]
        )
        api.chat.completions.create(
            model="fake",
            messages=[{"role": "user", "content": "Hello there", "name": "Wren"}],
            extra_body={"character": character.upper()},
        )
        page = http.get("/")
        refused = http.get("/v1/models")
    assert models == ["fake"]
    assert reply.choices[0].message.content == "fake reply"
    played = backend.requests[-1].prompt_text  # the chat layer's prompt for the character
    assert played is not None and character in played and "Hello there" in played
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert refused.status_code == 401


def test_the_serving_object_comes_from_the_composition_root(
    context: AppContext, app: FastAPI
) -> None:
    assert isinstance(context.openai_serving, OpenAIServing)
    assert app.state.openai_serving is context.openai_serving
    assert context.openai_serving.max_request_bytes == 4096


def test_api_errors_and_limits_leave_the_ui_alone(app: FastAPI) -> None:
    key = {"Authorization": "Bearer sekrit"}
    with TestClient(app, base_url=LOOPBACK) as http:
        unknown = http.get("/v1/nothing", headers=key)
        too_large = http.post("/tokenize", json={"content": "a" * 8000}, headers=key)
        upload = http.post(
            "/gradio_api/upload", files={"files": ("big.txt", b"x" * 8000, "text/plain")}
        )
        ui_unknown = http.get("/no-such-page")
        schema = http.get("/openapi.json").json()
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}
    assert too_large.status_code == 413  # /tokenize is llama.cpp's: its error shape
    assert too_large.json() == {
        "error": {
            "code": 413,
            "message": "request body: larger than the limit of 4096 bytes",
            "type": "invalid_request_error",
        }
    }
    assert upload.status_code != 413  # the body limit is the API's only
    assert '"invalid_request_error"' not in ui_unknown.text  # the UI answers its own paths
    assert "422" not in schema["paths"]["/v1/chat/completions"]["post"]["responses"]


def test_remote_settings_make_a_remote_backend() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings.load(remote_url=url, remote_mode="chat", remote_model="big-model")
    context = build_context(settings)
    try:
        backend = context.models.current()
        assert isinstance(backend, RemoteBackend)
        assert (backend.mode, backend.info.name, backend.info.path) == (
            "chat",
            "big-model",
            f"{url}/v1",
        )
        assert context.models.last_error is not None
        assert "cannot reach the server" in context.models.last_error
    finally:
        context.close()
