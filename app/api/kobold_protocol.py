"""KoboldAI / KoboldCpp wire types: ``/api/v1/generate`` and its streaming twin.

Fields keep KoboldCpp's names and meanings (``koboldcpp.py``): ``max_length`` (180
when absent), ``max_context_length`` (a longer prompt loses its oldest tokens),
``rep_pen_range`` below 1 is the last token only, ``sampler_order`` as KoboldCpp's
indices, ``banned_tokens`` are banned *strings* (SillyTavern's ``banned_strings`` too),
``stop_sequence`` stays in the text unless ``trim_stop``, ``memory`` goes before the
prompt, ``genkey`` names the request for ``/api/extra/abort`` and ``…/check``.  Sampler
fields are read from the body by :mod:`app.api.fields`; other fields are accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.api.protocol import RequestBody
from app.api.values import MAX_CHOICES

#: KoboldCpp's reply length when a request gives none.
DEFAULT_MAX_LENGTH = 180
#: What ``/api/v1/config/max_length`` reports (KoboldCpp's ``--hordemaxlen`` default).
ADVERTISED_MAX_LENGTH = 512


class KoboldGenerateRequest(RequestBody):
    """``POST /api/v1/generate`` and ``POST /api/extra/generate/stream``."""

    prompt: str = ""
    memory: str = Field("", description="Text put before the prompt.")
    max_length: int | None = Field(None, ge=1, description="Reply length (default 180).")
    max_context_length: int | None = Field(
        None, ge=1, description="Prompt plus reply fit in this many tokens."
    )
    genkey: str | None = Field(None, description="A name for abort and check.")
    n: int = Field(1, ge=1, le=MAX_CHOICES, description="Choices of the one prompt.")
    trim_stop: bool = Field(False, description="Leave the stop sequence out of the text.")

    def body(self) -> dict[str, Any]:
        """Every field but the prompt, for the sampler readers."""
        return self.model_dump(exclude={"prompt", "memory"}, exclude_none=True)

    @property
    def full_prompt(self) -> str:
        """``memory`` then ``prompt``."""
        return self.memory + self.prompt


class KoboldKeyRequest(RequestBody):
    """``POST /api/extra/abort`` and ``/api/extra/generate/check``: which request."""

    genkey: str | None = None


class KoboldTokenCountRequest(RequestBody):
    """``POST /api/extra/tokencount``."""

    prompt: str = ""
    special: bool = Field(True, description="Add the BOS token if the model wants one.")
