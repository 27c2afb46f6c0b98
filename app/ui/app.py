"""Assembles the Gradio app from its pages and wires the events between pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gradio as gr

from app.chat.services import Services
from app.settings import Settings
from app.ui.assets import CSS, PAGE_JS
from app.ui.avatar_cache import AvatarCache
from app.ui.chat_page import ChatPage
from app.ui.library_page import LibraryPage
from app.ui.lorebooks_page import LorebooksPage
from app.ui.models_page import ModelsPage
from app.ui.personas_page import PersonasPage
from app.ui.presets_page import PresetsPage
from app.ui.render import ChatHtml, MarkdownRenderer
from app.ui.settings_page import SettingsPage
from app.ui.state import Selection
from app.ui.uploads import UploadGuard


@dataclass(frozen=True)
class Pages:
    """Every page of one UI (the objects the events call)."""

    chat: ChatPage
    library: LibraryPage
    personas: PersonasPage
    lorebooks: LorebooksPage
    presets: PresetsPage
    models: ModelsPage
    settings: SettingsPage


@dataclass(frozen=True)
class UiBundle:
    """The Blocks plus the CSS and JS that ``mount_gradio_app`` takes (and the pages)."""

    blocks: gr.Blocks
    css: str
    js: str
    pages: Pages


class UiSources(Protocol):
    """What the UI is built from (the composition root's context has both)."""

    @property
    def services(self) -> Services:
        """The chat layer's services."""
        ...

    @property
    def settings(self) -> Settings:
        """The settings (for the few that change how pages look)."""
        ...


def build_pages(sources: UiSources, uploads: UploadGuard) -> Pages:
    """The page objects (their components are made by :func:`build_ui`)."""
    avatars = AvatarCache()
    services = sources.services
    renderer = MarkdownRenderer(remote_images=sources.settings.allow_remote_images)
    return Pages(
        chat=ChatPage(
            services.chat,
            services.chat_files,
            ChatHtml(renderer),
            avatars,
            uploads,
            services.groups,
            services.memory,
        ),
        library=LibraryPage(services.characters, avatars, uploads),
        personas=PersonasPage(services.personas, uploads),
        lorebooks=LorebooksPage(services.lorebooks, uploads),
        presets=PresetsPage(services.presets, uploads),
        models=ModelsPage(services.models),
        settings=SettingsPage(services.config),
    )


def build_ui(sources: UiSources, *, upload_roots: Sequence[Path] | None = None) -> UiBundle:
    """Build the whole UI from the chat layer's services (no state outside what it returns).

    File inputs accept only files under ``upload_roots`` (default: Gradio's upload folder).
    """
    pages = build_pages(sources, UploadGuard(upload_roots))
    tabs: dict[str, Any] = {}
    with gr.Blocks(title="Parlor", analytics_enabled=False) as blocks:
        with gr.Tabs(elem_id="parlor-tabs") as tab_set:
            for key, title, page in (
                ("chat", "Chat", pages.chat),
                ("characters", "Characters", pages.library),
                ("personas", "Personas", pages.personas),
                ("lorebooks", "Lorebooks", pages.lorebooks),
                ("presets", "Presets & templates", pages.presets),
                ("models", "Models", pages.models),
                ("settings", "Settings", pages.settings),
            ):
                with gr.Tab(title, id=key, elem_id=f"parlor-tab-{key}") as tab:
                    page.render()
                tabs[key] = tab
        pages.chat.wire_load(blocks)
        _wire_tabs(pages, tabs, tab_set)
    return UiBundle(blocks, css=CSS, js=PAGE_JS, pages=pages)


def _wire_tabs(pages: Pages, tabs: dict[str, Any], tab_set: Any) -> None:
    """Each page re-reads the database when its tab is shown; the library opens chats."""
    hidden: dict[str, Any] = {"show_progress": "hidden"}
    chat, library = pages.chat, pages.library
    tabs["chat"].select(chat.refresh, [chat.selection], chat.screen_outputs(), **hidden).then(
        **chat.meter_event()
    )
    library.wire_tab(tabs["characters"])
    pages.personas.wire_tab(tabs["personas"])
    pages.lorebooks.wire_tab(tabs["lorebooks"])
    pages.presets.wire_tab(tabs["presets"])
    pages.models.wire_tab(tabs["models"])
    pages.settings.wire_tab(tabs["settings"])

    def open_character(character_id: int | None, sel: Selection) -> dict[Any, Any]:
        """ "Chat with this character": its latest (or a new) chat, on the Chat tab."""
        updates: dict[Any, Any] = chat.open_character(character_id, sel)
        updates[tab_set] = gr.Tabs(selected="chat")
        return updates

    library.start_chat.click(
        open_character, [library.selected, chat.selection],
        [*chat.screen_outputs(), tab_set], **hidden,
    ).then(**chat.meter_event())  # fmt: skip
