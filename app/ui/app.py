"""Assembles the Gradio app from its pages and wires the events between pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.context import AppContext
from app.ui.assets import CSS, PAGE_JS
from app.ui.chat_page import ChatPage
from app.ui.library_page import LibraryPage
from app.ui.lorebooks_page import LorebooksPage
from app.ui.models_page import ModelsPage
from app.ui.personas_page import PersonasPage
from app.ui.presets_page import PresetsPage
from app.ui.render import ChatHtml, MarkdownRenderer
from app.ui.settings_page import SettingsPage
from app.ui.state import ChatReader, Selection, Thumbnails


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


def build_pages(context: AppContext) -> Pages:
    """The page objects for ``context`` (their components are made by :func:`build_ui`)."""
    thumbnails = Thumbnails()
    reader = ChatReader(context.stores, thumbnails)
    return Pages(
        chat=ChatPage(context, ChatHtml(MarkdownRenderer()), reader),
        library=LibraryPage(context, thumbnails),
        personas=PersonasPage(context),
        lorebooks=LorebooksPage(context),
        presets=PresetsPage(context),
        models=ModelsPage(context),
        settings=SettingsPage(context),
    )


def build_ui(context: AppContext) -> UiBundle:
    """Build the whole UI for ``context`` (no state outside the returned objects)."""
    pages = build_pages(context)
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
        chat.update_meter, [chat.selection], [chat.meter], **hidden
    )
    tabs["characters"].select(
        library.refresh, [library.selected, library.search, library.tag_filter],
        library.outputs(), **hidden, **library.QUEUE,
    )  # fmt: skip
    tabs["personas"].select(
        pages.personas.refresh, [pages.personas.selected], pages.personas.outputs(),
        **hidden, **pages.personas.QUEUE,
    )  # fmt: skip
    tabs["lorebooks"].select(
        pages.lorebooks.refresh, [pages.lorebooks.book], pages.lorebooks.outputs(),
        **hidden, **pages.lorebooks.QUEUE,
    )  # fmt: skip
    tabs["presets"].select(
        pages.presets.refresh, [pages.presets.preset, pages.presets.format],
        pages.presets.outputs(), **hidden, **pages.presets.QUEUE,
    )  # fmt: skip
    tabs["models"].select(
        pages.models.refresh, None, [pages.models.table, pages.models.choice,
                                     pages.models.current], **hidden,
    )  # fmt: skip
    tabs["settings"].select(
        pages.settings.refresh, None, [pages.settings.config, pages.settings.table], **hidden
    )

    def open_character(character_id: int | None, sel: Selection) -> dict[Any, Any]:
        """ "Chat with this character": its latest (or a new) chat, on the Chat tab."""
        updates = chat.pick_character(character_id, sel)
        updates[tab_set] = gr.Tabs(selected="chat")
        return updates

    library.start_chat.click(
        open_character, [library.selected, chat.selection],
        [*chat.screen_outputs(), tab_set], **hidden,
    ).then(chat.update_meter, [chat.selection], [chat.meter], **hidden)  # fmt: skip
