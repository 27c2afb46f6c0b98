"""Fixtures of the API tests that run against the real SmolLM2 model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from starlette.testclient import TestClient

from tests.api.live import FixedModels, RecordingBackend, api_app

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend


@pytest.fixture(scope="module")
def recorder(smollm: LlamaCppBackend) -> RecordingBackend:
    """The shared SmolLM2 backend, recording what each test module's requests ran."""
    return RecordingBackend(smollm)


@pytest.fixture(scope="module")
def recorded_http(recorder: RecordingBackend) -> Iterator[TestClient]:
    """Every API dialect in process, serving :func:`recorder`."""
    with TestClient(api_app(FixedModels(recorder))) as client:
        yield client
