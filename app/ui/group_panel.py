"""The chat page's group controls: create and edit groups, open a group chat, let one
member speak now, auto mode; and the streaming of several members' replies in turn.

Handlers call the group and chat services only (inside the page's error boundary).
Members are picked in a multi-select whose order is the reply order; the muted ones in
another.  Auto mode is a timer: while it is on, each tick lets the group go on without
the user (the strategy picks who), and switching it off or Stop ends it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from app.chat.groups import GroupService, MemberReply
from app.errors import InputError, ParlorError
from app.storage.group_types import (
    Group,
    GroupMember,
    GroupSettings,
    PromptMode,
    ReplyStrategy,
)
from app.ui.chat_screen import Updates
from app.ui.chat_stream import ChatStreaming, Throttle, summary_line
from app.ui.render import ChatNames
from app.ui.state import Selection

STRATEGIES = [
    ("Natural (mentions, talkativeness)", int(ReplyStrategy.NATURAL)),
    ("List (everyone in order)", int(ReplyStrategy.LIST)),
    ("Manual (you pick)", int(ReplyStrategy.MANUAL)),
    ("Pooled (who has not spoken)", int(ReplyStrategy.POOLED)),
]
MODES = [
    ("Swap cards", int(PromptMode.SWAP)),
    ("Join cards", int(PromptMode.JOIN)),
    ("Join cards, muted included", int(PromptMode.JOIN_WITH_MUTED)),
]


@dataclass
class GroupParts:
    """The group accordion's components."""

    group: gr.Dropdown
    new_chat: gr.Button
    name: gr.Textbox
    members: gr.Dropdown
    muted: gr.Dropdown
    strategy: gr.Dropdown
    mode: gr.Dropdown
    allow_self: gr.Checkbox
    join_prefix: gr.Textbox
    lorebooks: gr.Dropdown
    create: gr.Button
    save: gr.Button
    speaker: gr.Dropdown
    speak: gr.Button
    auto: gr.Checkbox
    timer: gr.Timer

    @classmethod
    def render(cls) -> GroupParts:
        """Create the accordion (below the chat)."""
        with gr.Accordion("Group chats", open=False, elem_id="parlor-groups"):
            with gr.Row():
                speaker = gr.Dropdown(label="Member", choices=[], scale=3, elem_id="parlor-speaker")
                speak = gr.Button("Speak now", size="sm", scale=1, elem_id="parlor-speak")
                auto = gr.Checkbox(label="Auto mode", value=False, scale=1, elem_id="parlor-auto")
            with gr.Row():
                group = gr.Dropdown(label="Group", choices=[], scale=3, elem_id="parlor-group")
                new_chat = gr.Button(
                    "New group chat", size="sm", scale=1, elem_id="parlor-group-chat"
                )
            name = gr.Textbox(label="Name", elem_id="parlor-group-name")
            members = gr.Dropdown(
                label="Members (reply order = the order picked)", choices=[], multiselect=True,
                elem_id="parlor-group-members",
            )  # fmt: skip
            muted = gr.Dropdown(
                label="Muted", choices=[], multiselect=True, elem_id="parlor-group-muted"
            )
            with gr.Row():
                strategy = gr.Dropdown(
                    label="Reply strategy", choices=STRATEGIES, value=0,
                    elem_id="parlor-group-strategy",
                )  # fmt: skip
                mode = gr.Dropdown(
                    label="Prompt", choices=MODES, value=0, elem_id="parlor-group-mode"
                )
                allow_self = gr.Checkbox(label="Self-responses", value=False)
            join_prefix = gr.Textbox(label="Join prefix ({{char}}, <FIELDNAME>)", value="")
            lorebooks = gr.Dropdown(
                label="Group lorebooks (active in every member's turn)", choices=[],
                multiselect=True, elem_id="parlor-group-lorebooks",
            )  # fmt: skip
            with gr.Row():
                create = gr.Button("Create group", size="sm", elem_id="parlor-group-create")
                save = gr.Button("Save group", size="sm", elem_id="parlor-group-save")
        timer = gr.Timer(5, active=False)
        return cls(
            group, new_chat, name, members, muted, strategy, mode, allow_self, join_prefix,
            lorebooks, create, save, speaker, speak, auto, timer,
        )  # fmt: skip

    def outputs(self) -> list[Any]:
        """What :meth:`GroupControls.panel` updates."""
        return [
            self.group, self.name, self.members, self.muted, self.strategy, self.mode,
            self.allow_self, self.join_prefix, self.lorebooks, self.speaker,
        ]  # fmt: skip


class GroupControls:
    """The group handlers."""

    def __init__(self, groups: GroupService, stream: ChatStreaming, parts: GroupParts) -> None:
        self.groups = groups
        self.stream = stream
        self.parts = parts
        self.screen = stream.screen

    # -- the panel ---------------------------------------------------------------------------

    def panel(self, sel: Selection, group_id: Any = None) -> Updates:
        """The group list, the open chat's group (or the picked one) and its members."""
        p = self.parts
        current = self.groups.group_of(sel.chat_id) if sel.chat_id else None
        chosen = self._group(group_id) or current
        characters = [(c.name, c.id) for c in self.stream.service.characters()]
        names = [(g.name, g.id) for g in self.groups.groups()]
        speakers = self.groups.member_names(current) if current else []
        books = self.groups.lorebook_choices()
        existing = {book_id for _, book_id in books}
        updates: Updates = {
            p.group: gr.update(choices=names, value=chosen.id if chosen else None),
            p.members: gr.update(
                choices=characters, value=list(chosen.member_ids) if chosen else []
            ),
            p.muted: gr.update(
                choices=characters,
                value=[m.character_id for m in chosen.members if m.muted] if chosen else [],
            ),
            p.lorebooks: gr.update(
                choices=books,
                value=[i for i in chosen.settings.lorebook_ids if i in existing] if chosen else [],
            ),  # a deleted book is left out
            p.speaker: gr.update(
                choices=[(n, i) for i, n in speakers], value=speakers[0][0] if speakers else None
            ),
        }
        if chosen is not None:
            s = chosen.settings
            updates.update({
                p.name: chosen.name, p.strategy: int(s.strategy), p.mode: int(s.mode),
                p.allow_self: s.allow_self_responses, p.join_prefix: s.join_prefix,
            })  # fmt: skip
        return updates

    def create(
        self, name: str, members: list[int], strategy: int, mode: int, allow_self: bool,
        prefix: str, lorebooks: list[int], sel: Selection,
    ) -> Updates:  # fmt: skip
        """A new group of the picked characters, and its first chat opened."""
        settings = GroupSettings(
            ReplyStrategy(strategy), PromptMode(mode), bool(allow_self), join_prefix=prefix or "",
            lorebook_ids=tuple(lorebooks or ()),
        )  # fmt: skip
        group = self.groups.create(name, list(members or []), settings)
        chat = self.groups.new_chat(group.id)
        here = Selection(None, chat.id)
        shown = self.screen.show(here, sel, status=f"Group “{group.name}” created.")
        return {**shown, **self.panel(self.screen.resolve(here))}

    def save(
        self, group_id: Any, name: str, members: list[int], muted: list[int], strategy: int,
        mode: int, allow_self: bool, prefix: str, lorebooks: list[int], sel: Selection,
    ) -> Updates:  # fmt: skip
        """Rename, reorder, add, remove or mute members, change strategy, mode or lorebooks."""
        group = self._group(group_id)
        if group is None:
            raise InputError("group", "pick a group to save")
        quiet = set(muted or [])
        self.groups.set_members(group.id, [GroupMember(i, i in quiet) for i in members or []])
        settings = replace(
            group.settings, strategy=ReplyStrategy(strategy), mode=PromptMode(mode),
            allow_self_responses=bool(allow_self), join_prefix=prefix or "",
            lorebook_ids=tuple(lorebooks or ()),
        )  # fmt: skip
        saved = self.groups.update(group.id, name=name, settings=settings)
        shown = self.screen.show(sel, sel, status=f"Group “{saved.name}” saved.")
        return {**shown, **self.panel(sel, saved.id)}

    def new_chat(self, group_id: Any, sel: Selection) -> Updates:
        """Open a new chat of the picked group."""
        group = self._group(group_id)
        if group is None:
            raise InputError("group", "pick or create a group first")
        here = Selection(None, self.groups.new_chat(group.id).id)
        return {**self.screen.show(here, sel), **self.panel(self.screen.resolve(here))}

    def auto(self, enabled: bool, sel: Selection) -> Updates:
        """Auto mode on or off (its delay is the group's)."""
        group = self.groups.group_of(sel.chat_id) if sel.chat_id else None
        if enabled and group is None:
            return {
                self.parts.auto: False,
                **self.screen.status("Auto mode is for group chats.", error=True),
            }
        delay = group.settings.auto_mode_delay if group else 5
        return {self.parts.timer: gr.Timer(max(delay, 1), active=bool(enabled))}

    # -- replies -----------------------------------------------------------------------------

    def send(self, text: str, sel: Selection) -> Iterator[Updates]:
        """In a group chat the strategy's members answer in turn; else the one character."""
        if sel.chat_id is None or self.groups.group_of(sel.chat_id) is None:
            yield from self.stream.send(text, sel)
            return
        shown = text if text.strip() else None
        yield {**self.stream.writing(), **self.screen.status("Generating…")}
        yield from self._members(self.groups.send(sel.chat_id, text), sel, shown)

    def speak(self, character_id: Any, sel: Selection) -> Iterator[Updates]:
        """One member replies now."""
        if sel.chat_id is None or not isinstance(character_id, int):
            raise InputError("member", "open a group chat and pick a member")
        yield self.stream.writing()
        yield from self._members(self.groups.speak(sel.chat_id, character_id), sel, None)

    def tick(self, sel: Selection, auto_on: bool = True) -> Iterator[Updates]:
        """Auto mode: the group goes on by itself (not while a reply is written, nor from
        a tick that fired before auto mode was switched off)."""
        if sel.chat_id is None or not auto_on or self.stream.service.busy():
            return
        if self.groups.group_of(sel.chat_id) is None:
            yield {self.parts.timer: gr.Timer(active=False), self.parts.auto: False}
            return
        yield self.stream.writing()
        yield from self._members(self.groups.auto_turn(sel.chat_id), sel, None)

    def _members(
        self, replies: Iterator[MemberReply], sel: Selection, user_text: str | None
    ) -> Iterator[Updates]:
        view = self.stream.service.view(sel.chat_id) if sel.chat_id else None
        names = self.screen.names(view) if view else ChatNames("", "User")
        live_html = self.stream.parts.conversation.live_html
        throttle, note = Throttle(), ""
        try:
            for reply in replies:
                avatar = dict(names.members).get(reply.name, "")
                who = replace(names, char=reply.name, char_avatar=avatar)
                if reply.progress.done:
                    note = f"{reply.name}: {summary_line(reply.progress)}"
                    yield {**self.screen.show(sel, sel, status=note), **self.stream.writing()}
                    user_text = None
                elif throttle.ready():
                    label = f"{reply.name} is writing…"
                    live = self.screen.html.live(
                        who, reply.progress.text, user_text=user_text, label=label
                    )
                    yield {live_html: live, **self.stream.writing()}
        except ParlorError as exc:
            yield {**self.screen.show(sel, sel, status=str(exc), failed=True), **self.stream.idle()}
            return
        except GeneratorExit:
            self.stream.service.stop()
            raise
        yield {**self.screen.show(sel, sel, status=note or "Nobody replied."), **self.stream.idle()}

    def _group(self, group_id: Any) -> Group | None:
        return self.groups.group(group_id) if isinstance(group_id, int) else None
