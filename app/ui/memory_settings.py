"""The Memory panel's settings inputs, and the checks of what they send: a bad value
is an ``InputError`` naming its field, shown on the page's status line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import gradio as gr

from app.errors import InputError
from app.prompt.memory import DEFAULT_TEMPLATE
from app.storage.memory_types import MemoryPosition, MemoryRole, MemorySettings

Updates = dict[Any, Any]
_T = TypeVar("_T")

POSITIONS: tuple[tuple[str, MemoryPosition], ...] = (
    ("In the chat, at a depth", "in_chat"),
    ("After the story string", "after_story"),
    ("Before the whole prompt", "before_prompt"),
)
ROLES: tuple[tuple[str, MemoryRole], ...] = (
    ("System", "system"),
    ("User", "user"),
    ("Assistant", "assistant"),
)


@dataclass(frozen=True)
class Bounds:
    """A number field's label (its error line names it) and the values it takes."""

    label: str
    low: float
    high: float
    whole: bool = True

    def check(self, value: object) -> float:
        """``value`` as a float if it is within bounds; ``InputError`` naming the field."""
        number = _finite(value)
        if number is None or not self.low <= number <= self.high:
            raise InputError(self.label, self._problem(value))
        if self.whole and not number.is_integer():
            raise InputError(self.label, self._problem(value))
        return number

    def _problem(self, value: object) -> str:
        kind = "a whole number" if self.whole else "a number"
        got = "nothing" if value is None or value == "" else repr(value)
        return f"must be {kind} from {self.low:g} to {self.high:g} (got {got})"


DEPTH = Bounds("Depth", 0, 1000)
MAX_CHUNKS = Bounds("At most", 0, 100)
THRESHOLD = Bounds("Least similarity", 0.0, 1.0, whole=False)
QUERY_MESSAGES = Bounds("Query of the last N messages", 1, 20)
SUMMARY_BLOCK = Bounds("Summarize every N messages", 0, 500)
#: The story so far's share of the context, in percent.
SUMMARY_SHARE = Bounds("Story so far, % of the context", 1, 50, whole=False)


@dataclass(frozen=True)
class SettingsForm:
    """The settings fields' values as the browser sends them (in :meth:`SettingsFields.inputs`
    order); :meth:`applied_to` checks them."""

    enabled: object
    position: object
    role: object
    depth: object
    max_chunks: object
    threshold: object
    query_messages: object
    summary_block: object
    summary_share: object
    template: object

    def applied_to(self, stored: MemorySettings) -> MemorySettings:
        """``stored`` with the panel's fields changed; ``InputError`` naming a bad field."""
        return replace(
            stored,
            enabled=bool(self.enabled),
            position=_choice(self.position, POSITIONS, "Memories go"),
            role=_choice(self.role, ROLES, "Role in the chat"),
            depth=int(DEPTH.check(self.depth)),
            max_chunks=int(MAX_CHUNKS.check(self.max_chunks)),
            threshold=THRESHOLD.check(self.threshold),
            query_messages=int(QUERY_MESSAGES.check(self.query_messages)),
            summary_block=int(SUMMARY_BLOCK.check(self.summary_block)),
            summary_share=_share(self.summary_share, stored.summary_share),
            template=str(self.template or "").strip(),
        )


@dataclass
class SettingsFields:
    """The Memory panel's settings inputs."""

    enabled: gr.Checkbox
    position: gr.Dropdown
    role: gr.Dropdown
    depth: gr.Number
    max_chunks: gr.Number
    threshold: gr.Slider
    query_messages: gr.Number
    summary_block: gr.Number
    summary_share: gr.Number
    template: gr.Textbox

    @classmethod
    def render(cls) -> SettingsFields:
        """Create the inputs (no bounds on the numbers: the save handler reports bad ones
        on the status line, where Gradio's own check would raise a toast)."""
        enabled = gr.Checkbox(
            value=True, label="Long-term memory for this chat", elem_id="parlor-memory-on"
        )
        with gr.Row():
            position = gr.Dropdown(POSITIONS, value="in_chat", label="Memories go")
            depth = gr.Number(label=DEPTH.label, value=2, precision=0)
            max_chunks = gr.Number(label=MAX_CHUNKS.label, value=5, precision=0)
            threshold = gr.Slider(0.0, 1.0, value=0.25, step=0.01, label=THRESHOLD.label)
        with gr.Row():
            role = gr.Dropdown(
                ROLES, value="system", label="Role in the chat", elem_id="parlor-memory-role"
            )
            query_messages = gr.Number(
                label=QUERY_MESSAGES.label, value=2, precision=0, elem_id="parlor-memory-query"
            )
            summary_block = gr.Number(
                label=f"{SUMMARY_BLOCK.label} (0: never)", value=20, precision=0,
                elem_id="parlor-memory-block",
            )  # fmt: skip
            summary_share = gr.Number(
                label=SUMMARY_SHARE.label, value=15, elem_id="parlor-memory-share"
            )
        template = gr.Textbox(
            label="Memories template (Jinja2; empty: the default)", lines=3,
            placeholder=DEFAULT_TEMPLATE, elem_id="parlor-memory-template",
        )  # fmt: skip
        return cls(
            enabled, position, role, depth, max_chunks, threshold, query_messages,
            summary_block, summary_share, template,
        )  # fmt: skip

    def inputs(self) -> list[Any]:
        """The inputs, in :class:`SettingsForm`'s order."""
        return [getattr(self, f.name) for f in fields(SettingsForm)]

    def values(self, settings: MemorySettings) -> Updates:
        """The inputs showing ``settings``."""
        return {
            self.enabled: settings.enabled,
            self.position: settings.position,
            self.role: settings.role,
            self.depth: settings.depth,
            self.max_chunks: settings.max_chunks,
            self.threshold: settings.threshold,
            self.query_messages: settings.query_messages,
            self.summary_block: settings.summary_block,
            self.summary_share: _percent(settings.summary_share),
            self.template: settings.template,
        }


def _finite(value: object) -> float | None:
    """``value`` as a float if it is a finite number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _choice(value: object, choices: Sequence[tuple[str, _T]], label: str) -> _T:
    """The choice whose value ``value`` is; ``InputError`` naming the field otherwise."""
    for _, choice in choices:
        if value == choice:
            return choice
    names = ", ".join(name for name, _ in choices)
    raise InputError(label, f"pick one of: {names}")


def _percent(share: float) -> float:
    """A share of the context as the panel shows it, in percent."""
    return round(share * 100, 2)


def _share(percent: object, stored: float) -> float:
    """The share of the context ``percent`` stands for (``stored`` itself if unchanged,
    so a share the panel rounds is kept exactly)."""
    checked = SUMMARY_SHARE.check(percent)
    return stored if checked == _percent(stored) else checked / 100
