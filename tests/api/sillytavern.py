"""SillyTavern 1.12.6's request bodies (``tests/api/fixtures``) and how it reads answers.

The fixtures are the bodies SillyTavern sends with its default settings, written from
its source: ``public/scripts/textgen-settings.js`` ``getTextGenGenerationData`` (the
Text Completion types; its Node server forwards them unfiltered, except vLLM's, cut to
``VLLM_KEYS`` in ``src/constants.js``) and ``src/endpoints/backends/kobold.js``
(KoboldAI Classic's ``this_settings`` from ``public/scripts/kai-settings.js``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
#: The Text Completion types SillyTavern generates with on ``/v1/completions``.
V1_TYPES = ("ooba", "vllm", "koboldcpp", "tabby")


def st_body(name: str, **changes: Any) -> dict[str, Any]:
    """The fixture ``name`` with ``changes`` applied (``stream=True`` as SillyTavern's
    ``generateTextGenWithStreaming`` sets it)."""
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return {**body, **changes}


def sse_data(text: str) -> list[Any]:
    """The JSON of every ``data:`` line of an SSE body (``[DONE]`` left out)."""
    frames = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            frames.append(json.loads(line[len("data: ") :]))
    return frames


def streamed_text(frames: list[Any]) -> tuple[str, dict[int, str]]:
    """The reply and the extra swipes, as SillyTavern's ``generateTextGenWithStreaming``
    reads them: ``choices[0].index`` > 0 is swipe index - 1; else ``text`` or llama.cpp's
    ``content``."""
    text, swipes = "", {}
    for data in frames:
        choice = (data.get("choices") or [{}])[0]
        if choice.get("index", 0) > 0:
            swipes[choice["index"] - 1] = swipes.get(choice["index"] - 1, "") + choice["text"]
        else:
            text += choice.get("text") or data.get("content") or ""
    return text, swipes
