"""Serve the Gradio UI (and, beside it, the API) with uvicorn on one host and port."""

from __future__ import annotations

import logging
import os
import threading
import webbrowser

import gradio as gr
import uvicorn
from fastapi import FastAPI

from app.api.router import build_openai_serving, create_router
from app.context import AppContext, build_context
from app.settings import Settings
from app.ui.app import build_ui

log = logging.getLogger(__name__)


def create_app(context: AppContext) -> FastAPI:
    """The ASGI app: FastAPI with the Gradio UI mounted at ``/``."""
    api = FastAPI(title="Parlor", docs_url=None, redoc_url=None)
    api.state.context = context
    api.state.openai_serving = build_openai_serving(context)
    api.include_router(create_router())

    @api.get("/healthz")
    def healthz() -> dict[str, object]:
        models = context.models
        return {
            "status": "ok",
            "model": models.current().info.name if models.loaded else None,
            "model_error": models.last_error,
        }

    ui = build_ui(context)
    mounted: FastAPI = gr.mount_gradio_app(
        api, ui.blocks, path="/", ssr_mode=False, footer_links=[], css=ui.css, js=ui.js
    )
    return mounted


def serve(settings: Settings) -> None:
    """Build everything from ``settings`` and serve until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
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
