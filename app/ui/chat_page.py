"""The chat page: its parts, its two controllers, and the events between them.

Per-browser state (which chat is open, which message is being edited) lives in
``gr.State``; the open chat is mirrored into the URL (``?character=..&chat=..``) and the
browser's storage so a reload shows the same screen, re-read from the database.
Every handler runs inside the page's :class:`~app.ui.boundary.Boundary`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.chat.chatfiles import ChatFiles
from app.chat.groups import GroupService
from app.chat.memory.service import MemoryService
from app.chat.service import ChatService
from app.ui.assets import LOCATION_JS
from app.ui.boundary import Boundary
from app.ui.chat_nav import ChatNavigation
from app.ui.chat_parts import ChatParts
from app.ui.chat_screen import ChatScreen
from app.ui.chat_stream import ChatStreaming
from app.ui.group_panel import GroupControls, GroupParts
from app.ui.memory_panel import MemoryControls
from app.ui.render import ChatHtml
from app.ui.state import Selection, Thumbnails, page_queue
from app.ui.uploads import UploadGuard

Options = dict[str, Any]


class ChatPage:
    """Builds the chat page and wires its events."""

    def __init__(
        self,
        service: ChatService,
        chat_files: ChatFiles,
        chat_html: ChatHtml,
        thumbnails: Thumbnails,
        uploads: UploadGuard,
        groups: GroupService,
        memory: MemoryService,
    ) -> None:
        self._groups = groups
        self._service = service
        self._memory = memory
        self._chat_files = chat_files
        self._html = chat_html
        self._thumbnails = thumbnails
        self._uploads = uploads

    def render(self) -> None:
        """Create the components inside the current tab and wire their events."""
        self.parts = ChatParts.render()
        self.screen = ChatScreen(self._service, self.parts, self._html, self._thumbnails)
        self.nav = ChatNavigation(
            self._service, self._chat_files, self.screen, self._uploads, self._memory
        )
        self.stream = ChatStreaming(self._service, self.screen)
        self.group_parts = GroupParts.render()
        self.groups = GroupControls(self._groups, self.stream, self.group_parts)
        status = self.parts.conversation.status
        self.boundary = Boundary(status)
        self.generation_boundary = Boundary(status, after_failure=self.stream.idle)
        self.memory = MemoryControls(self._memory, self.parts.memory, status)
        self._setup_events()

    @property
    def selection(self) -> gr.State:
        """The per-browser selection (other pages open chats through it)."""
        return self.parts.state.selection

    def meter_event(self) -> Options:
        """Keyword arguments of a ``.then`` that refreshes the token meter."""
        return {
            "fn": self.boundary.guard(self.nav.update_meter),
            "inputs": [self.selection],
            "outputs": [self.parts.conversation.meter, self.parts.conversation.status],
            "show_progress": "hidden",
        }

    def screen_outputs(self) -> list[Any]:
        """Every component showing a chat may update."""
        return self.parts.screen_outputs()

    def refresh(self, sel: Selection) -> Any:
        """Re-read everything (the Chat tab was shown again)."""
        return self.boundary.guard(self.nav.refresh)(sel)

    def open_character(self, character_id: int | None, sel: Selection) -> Any:
        """Show the character's latest chat (used by the Characters page)."""
        return self.boundary.guard(self.nav.pick_character)(character_id, sel)

    # -- events ------------------------------------------------------------------------

    def _setup_events(self) -> None:
        quick: Options = {"outputs": self.screen_outputs(), "show_progress": "hidden"}
        generate: Options = {**quick, "concurrency_limit": 1, "concurrency_id": "generation"}
        self.parts.state.location.change(None, [self.parts.state.location], None, js=LOCATION_JS)
        self._setup_navigation(quick)
        self._setup_chat_files(quick)
        self._setup_generation(generate)
        self._setup_messages(quick, generate)
        self._setup_groups(quick, generate)
        self._setup_memory()

    def _setup_navigation(self, quick: Options) -> None:
        """Events that change which chat is shown, or its settings (no generation)."""
        nav, guard, meter = self.nav, self.boundary.guard, self.meter_event()
        sel, side, st = self.selection, self.parts.sidebar, self.parts.settings
        side.character.input(guard(nav.pick_character), [side.character, sel], **quick).then(
            **meter
        )
        side.new_chat.click(guard(nav.new_chat), [sel], **quick).then(**meter)
        side.chat_list.input(guard(nav.open_chat), [side.chat_list, sel], **quick).then(**meter)
        side.search_results.input(guard(nav.open_hit), [side.search_results, sel], **quick).then(
            **meter
        )
        side.rename.click(guard(nav.rename), [side.title, sel], **quick)
        side.duplicate.click(guard(nav.duplicate), [sel], **quick).then(**meter)
        side.trash.click(guard(nav.trash), [sel], **quick).then(**meter)
        side.restore.click(guard(nav.restore), [side.trash_list, sel], **quick).then(**meter)
        for trigger in (side.search_box.submit, side.search_scope.input):
            trigger(guard(nav.search), [side.search_box, side.search_scope, sel], **quick)
        settings_inputs = [
            st.note_text, st.note_depth, st.note_interval, st.note_position, st.note_role,
            st.preset, st.format, st.persona, *st.reasoning.inputs(), sel,
        ]  # fmt: skip
        st.save.click(guard(nav.save_settings), settings_inputs, **quick).then(**meter)
        prompt = self.parts.prompt
        self.parts.conversation.show_prompt.click(
            guard(nav.show_prompt), [sel],
            [prompt.text, prompt.info, prompt.breakdown, prompt.accordion,
             self.parts.conversation.status],
        )  # fmt: skip

    def _setup_chat_files(self, quick: Options) -> None:
        side, guard = self.parts.sidebar, self.boundary.guard
        side.import_files.upload(
            guard(self.nav.import_chats), [side.import_files, self.selection],
            [*quick["outputs"], side.import_report, side.import_files], show_progress="full",
        )  # fmt: skip
        side.export.click(
            guard(self.nav.export_chat), [self.selection],
            [side.export_file, self.parts.conversation.status],
        )  # fmt: skip

    def _setup_generation(self, generate: Options) -> None:
        """Events that generate: one at a time, in the generation queue; Send is queued."""
        stream, guard = self.stream, self.generation_boundary.guard
        sel, conv, meter = self.selection, self.parts.conversation, self.meter_event()
        pending = self.parts.state.pending
        accept: Options = {
            "inputs": [conv.input_box],
            "outputs": [conv.input_box, pending, conv.status],
            "queue": False,
            "show_progress": "hidden",
        }
        # "multiple": a message sent while a reply is written waits in the queue rather
        # than being dropped (Gradio's default drops a trigger while its event is pending).
        for trigger in (conv.input_box.submit, conv.send.click):
            trigger(self.boundary.guard(stream.accept), **accept).then(
                guard(self.groups.send), [pending, sel], trigger_mode="multiple", **generate
            ).then(**meter, trigger_mode="always_last")
        conv.regenerate.click(guard(stream.regenerate), [sel], **generate).then(**meter)
        conv.continue_reply.click(guard(stream.continue_reply), [sel], **generate).then(**meter)
        conv.impersonate.click(guard(stream.impersonate), [sel], **generate)
        conv.stop.click(stream.stop, None, None, queue=False, show_progress="hidden")

    def _setup_messages(self, quick: Options, generate: Options) -> None:
        """The per-message controls in the chat pane, and the edit and delete panels."""
        stream, guard = self.stream, self.generation_boundary.guard
        sel, ed, meter = self.selection, self.parts.editor, self.meter_event()
        chat_html = self.parts.conversation.chat_html
        chat_html.click(self.boundary.guard(stream.show_earlier), [sel], **quick)
        chat_html.click(guard(stream.act), [sel], trigger_mode="multiple", **generate).then(**meter)
        edit = [ed.edit_box, self.parts.state.edit_target, sel]
        ed.save.click(guard(stream.save_edit), edit, **generate).then(**meter)
        ed.save_as_swipe.click(guard(stream.save_edit_as_swipe), edit, **generate).then(**meter)
        ed.confirm_delete.click(
            guard(stream.confirm_delete), [self.parts.state.edit_target, sel], **generate
        ).then(**meter)
        for button in (ed.cancel_edit, ed.cancel_delete):
            button.click(self.boundary.guard(stream.cancel), None, **quick)
        self._setup_reasoning(quick, generate)

    def _setup_groups(self, quick: Options, generate: Options) -> None:
        """The group accordion: create, edit, open; speak now; auto mode."""
        g, controls, guard = self.group_parts, self.groups, self.boundary.guard
        sel, meter, panel = self.selection, self.meter_event(), g.outputs()
        both: Options = {**quick, "outputs": [*quick["outputs"], *panel]}
        sel.change(guard(controls.panel), [sel], panel, show_progress="hidden")
        g.group.input(guard(controls.panel), [sel, g.group], panel, show_progress="hidden")
        fields = [g.strategy, g.mode, g.allow_self, g.join_prefix, g.lorebooks, sel]
        g.create.click(guard(controls.create), [g.name, g.members, *fields], **both).then(**meter)
        g.save.click(
            guard(controls.save), [g.group, g.name, g.members, g.muted, *fields], **both
        ).then(**meter)
        g.new_chat.click(guard(controls.new_chat), [g.group, sel], **both).then(**meter)
        speak = self.generation_boundary.guard(controls.speak)
        g.speak.click(speak, [g.speaker, sel], **generate).then(**meter)
        status = self.parts.conversation.status
        g.auto.input(guard(controls.auto), [g.auto, sel], [g.timer, g.auto, status])
        ticking: Options = {**generate, "outputs": [*generate["outputs"], g.timer, g.auto]}
        tick = self.generation_boundary.guard(controls.tick)
        g.timer.tick(tick, [sel, g.auto], trigger_mode="once", **ticking)

    def _setup_reasoning(self, quick: Options, generate: Options) -> None:
        """The reasoning panel: save, delete or cancel an edit of a reasoning block."""
        editing, guard = self.stream.reasoning, self.generation_boundary.guard
        panel, target = self.parts.reasoning, self.parts.state.edit_target
        panel.save.click(guard(editing.save), [panel.box, target, self.selection], **generate)
        panel.delete.click(guard(editing.delete), [target, self.selection], **generate)
        panel.cancel.click(self.boundary.guard(editing.cancel), None, **quick)

    def _setup_memory(self) -> None:
        """The Memory panel: shown in full when it opens or another chat does (``sel``
        changes only then); its read-only parts refreshed when the status line changes (a
        reply ended), keeping a summary being edited and settings not yet saved.

        Its events share one queue, so they land in the order sent: a refresh started
        before a save can no longer overwrite the saved summary with what it read.
        """
        panel, controls, guard = self.parts.memory, self.memory, self.boundary.guard
        sel, status = self.selection, self.parts.conversation.status
        queue = page_queue("memory")
        show: Options = {"outputs": panel.outputs(), "show_progress": "hidden", **queue}
        panel.accordion.expand(guard(controls.show), [sel], **show)
        sel.change(guard(controls.show), [sel], **show)
        status.change(
            guard(controls.refresh), [sel, panel.summaries.choice], panel.refresh_outputs(),
            show_progress="hidden", **queue,
        )  # fmt: skip
        act: Options = {"outputs": [*panel.outputs(), status], **queue}
        panel.save.click(guard(controls.save), [*panel.settings_inputs(), sel], **act)
        panel.rebuild.click(guard(controls.rebuild), [sel], **act, show_progress="full")
        editor = panel.summaries
        # on a pick only: the dropdown's input event also fires when it loses focus, and
        # that second pick, landing after the user began typing, overwrote the text
        editor.choice.select(
            guard(controls.pick), [editor.choice, sel], [editor.text, status], **queue
        )
        editor.save.click(guard(controls.save_summary), [editor.choice, editor.text, sel], **act)
        editor.pin.click(guard(controls.toggle_pin), [editor.choice, sel], **act)
        editor.delete.click(guard(controls.delete_summary), [editor.choice, sel], **act)
        editor.add_fact.click(guard(controls.add_fact), [editor.new_fact, sel], **act)

    def wire_load(self, blocks: gr.Blocks) -> None:
        """Paint the page when a browser opens it."""
        blocks.load(
            self.boundary.guard(self.nav.on_load), [self.parts.state.remembered],
            self.screen_outputs(), show_progress="hidden",
        ).then(**self.meter_event())  # fmt: skip
