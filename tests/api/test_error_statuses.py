"""Each Parlor error, raised while a request is served, reaches the client as OpenAI's
error object with the status and type docs/api.md states (in process, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.api.errors import GenerationFailed, QueueFull, RequestTooLarge, Unauthorized
from app.engine.base import Backend
from app.errors import (
    ContextLengthExceeded,
    InputError,
    ModelLoadError,
    ModelNotLoaded,
    NotFound,
    ParlorError,
    RemoteBackendError,
    RemoteRateLimited,
)
from app.settings import SettingsError
from app.storage.db import StorageError
from tests.api.live import api_app


class FailingModels:
    """A BackendSource whose backend cannot be had: asking for it raises ``error``."""

    def __init__(self, error: ParlorError) -> None:
        self.error = error

    @property
    def loaded(self) -> bool:
        return True

    def current(self) -> Backend:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InputError("temperature", "too hot"), 400, "invalid_request_error"),
        (SettingsError("--port", "not a number"), 400, "invalid_request_error"),
        (ContextLengthExceeded(9, 8), 400, "invalid_request_error"),
        (Unauthorized(), 401, "invalid_request_error"),
        (NotFound("character", "Nobody"), 404, "invalid_request_error"),
        (RequestTooLarge(1024), 413, "invalid_request_error"),
        (QueueFull(8), 429, "rate_limit_error"),
        (ModelLoadError("m.gguf", "truncated"), 500, "model_error"),  # an InputError, yet 500
        (StorageError(Path("parlor.db"), "locked"), 500, "server_error"),
        (GenerationFailed("dropped"), 502, "server_error"),
        (RemoteBackendError("http://x/v1: refused"), 502, "remote_error"),
        (RemoteRateLimited("http://x/v1: 429"), 429, "rate_limit_error"),  # not its base's 502
        (ModelNotLoaded(), 503, "model_error"),
    ],
)
def test_an_error_while_serving_is_sent_with_its_status(
    error: ParlorError, status: int, kind: str
) -> None:
    with TestClient(api_app(FailingModels(error))) as http:
        response = http.post("/v1/completions", json={"prompt": "hi"})
    assert response.status_code == status
    assert response.json() == {
        "error": {
            "message": str(error),
            "type": kind,
            "param": error.source if isinstance(error, InputError) else None,
            "code": error.code,
        }
    }
