"""Serve the Gradio UI (and, beside it, the API) with uvicorn on one host and port."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import webbrowser

import gradio as gr
import uvicorn
from fastapi import FastAPI

from app.api.router import install_api
from app.context import AppContext, build_context
from app.security import (
    LocalRequestsMiddleware,
    check_exposure,
    is_loopback,
    protect_config_file,
)
from app.settings import Settings
from app.ui.app import build_ui

log = logging.getLogger(__name__)


def create_app(context: AppContext) -> FastAPI:
    """The ASGI app: FastAPI with the Gradio UI mounted at ``/``."""
    api = FastAPI(title="Parlor", docs_url=None, redoc_url=None)
    api.state.context = context
    install_api(api, context.openai_serving, context.native_serving)

    @api.get("/healthz")
    def healthz() -> dict[str, object]:
        models = context.models
        return {
            "status": "ok",
            "model": models.current().info.name if models.loaded else None,
            "model_error": models.last_error,
        }

    settings = context.settings
    ui = build_ui(context)
    login = (settings.ui_user, settings.ui_password) if settings.ui_password else None
    mounted: FastAPI = gr.mount_gradio_app(
        api, ui.blocks, path="/", ssr_mode=False, footer_links=[], css=ui.css, js=ui.js,
        auth=login, auth_message="Parlor: log in with the UI user and password.",
    )  # fmt: skip
    # Mounted apps are never "launched", which leaves Gradio's own check that a file
    # input names an uploaded file switched off; switch it on.
    ui.blocks.has_launched = True
    mounted.add_middleware(LocalRequestsMiddleware, loopback_only=is_loopback(settings.host))
    return mounted


def serve(settings: Settings) -> None:
    """Build everything from ``settings`` and serve until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    check_exposure(settings)
    protect_config_file(settings.data_dir)
    # Uploads go to a folder of this process's own, so a file input can only ever name
    # a file a user uploaded here (see app.ui.uploads).
    with tempfile.TemporaryDirectory(prefix="parlor-uploads-") as uploads:
        os.environ["GRADIO_TEMP_DIR"] = uploads
        _run(settings)


def _run(settings: Settings) -> None:
    context = build_context(settings)
    app = create_app(context)
    url = f"http://{settings.host}:{settings.port}"
    log.info("Parlor is serving on %s", url)
    if settings.inbrowser:
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    finally:
        context.close()
