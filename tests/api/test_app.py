"""The API inside the real app: beside the Gradio UI, and the ``--remote-*`` settings."""

from __future__ import annotations

import httpx
import openai

from app.context import build_context
from app.engine.fake import FakeBackend
from app.engine.remote import RemoteBackend
from app.settings import Settings
from tests.api.live import serve_in_thread
from tests.servers import free_port


def test_routes_sit_beside_the_gradio_ui() -> None:
    from app.server import create_app  # imports gradio: slow, so only here

    context = build_context(Settings.load(api_key="sekrit"), load_model=False)
    backend = FakeBackend()
    context.models.use(backend)
    character = context.stores.characters.list_characters()[0].name
    try:
        with serve_in_thread(create_app(context)) as url:
            api = openai.OpenAI(base_url=f"{url}/v1", api_key="sekrit", max_retries=0)
            models = [m.id for m in api.models.list().data]
            reply = api.chat.completions.create(
                model="fake", messages=[{"role": "user", "content": "hi"}]
            )
            api.chat.completions.create(
                model="fake",
                messages=[{"role": "user", "content": "Hello there", "name": "Wren"}],
                extra_body={"character": character.upper()},
            )
            page = httpx.get(f"{url}/")
            refused = httpx.get(f"{url}/v1/models")
    finally:
        context.close()
    assert models == ["fake"]
    assert reply.choices[0].message.content == "fake reply"
    played = backend.requests[-1].prompt_text  # the chat layer's prompt for the character
    assert played is not None and character in played and "Hello there" in played
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert refused.status_code == 401


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
