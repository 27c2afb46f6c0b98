"""The :class:`Preset` model: a named, validated set of sampler settings.

A preset carries every sampler field of :class:`app.engine.sampling.SamplerSettings`
with the same neutral defaults (a default disables its stage), plus a name, a
description, a reply length, stop strings and ``unsupported``: SillyTavern keys kept
verbatim from an import so that an export gives them back.  On disk a preset is YAML
holding only the values that differ from neutral (see :meth:`Preset.to_yaml_data`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.engine.sampling import DEFAULT_ORDER, SamplerSettings, SamplerStage, complete_order
from app.errors import PresetError

#: The fields of :class:`SamplerSettings` a preset carries, in declaration order.
SAMPLER_FIELDS: tuple[str, ...] = tuple(SamplerSettings.model_fields)


class Preset(BaseModel):
    """A named sampler preset: SamplerSettings fields plus reply length and stops."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=200, description="Display name of the preset.")
    description: str = Field("", description="Free text shown next to the preset.")

    # -- temperature -------------------------------------------------------------
    temperature: float = Field(
        1.0, ge=0.0, le=10.0, description="Softmax temperature; 0 means greedy decoding."
    )
    temperature_last: bool = Field(
        True, description="Apply temperature after every truncation stage."
    )
    dynatemp_range: float = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description="Dynamic temperature: entropy-scaled range ± around temperature; 0 = off.",
    )
    dynatemp_exponent: float = Field(
        1.0, ge=0.0, le=10.0, description="Dynamic temperature exponent."
    )
    # -- truncation --------------------------------------------------------------
    top_k: int = Field(0, ge=0, description="Keep the k most likely tokens; 0 disables.")
    top_p: float = Field(1.0, ge=0.0, le=1.0, description="Nucleus sampling; 1 disables.")
    min_p: float = Field(
        0.0, ge=0.0, le=1.0, description="Drop tokens below min_p × the top probability."
    )
    typical_p: float = Field(1.0, ge=0.0, le=1.0, description="Locally typical sampling.")
    top_n_sigma: float = Field(
        -1.0, le=100.0, description="Keep logits within n σ of the maximum; ≤ 0 disables."
    )
    # -- penalties ---------------------------------------------------------------
    repeat_penalty: float = Field(
        1.0, ge=0.0, le=10.0, description="Repetition penalty; 1 disables."
    )
    repeat_last_n: int = Field(
        64, ge=-1, description="Tokens the penalties look back on; -1 = whole context."
    )
    frequency_penalty: float = Field(
        0.0, ge=-2.0, le=2.0, description="Penalty per previous occurrence (OpenAI style)."
    )
    presence_penalty: float = Field(
        0.0, ge=-2.0, le=2.0, description="Penalty once a token occurred (OpenAI style)."
    )
    # -- DRY ---------------------------------------------------------------------
    dry_multiplier: float = Field(
        0.0, ge=0.0, le=10.0, description="DRY repetition penalty strength; 0 disables."
    )
    dry_base: float = Field(1.75, ge=1.0, le=10.0, description="DRY penalty growth base.")
    dry_allowed_length: int = Field(
        2, ge=1, description="Longest repeated sequence DRY leaves unpunished."
    )
    dry_penalty_last_n: int = Field(
        -1, ge=-1, description="Tokens DRY scans for repeats; -1 = whole context."
    )
    dry_sequence_breakers: tuple[str, ...] = Field(
        ("\n", ":", '"', "*"), description="Strings that end a DRY repeat match."
    )
    # -- XTC ---------------------------------------------------------------------
    xtc_threshold: float = Field(
        0.1, ge=0.0, le=1.0, description="XTC: tokens above this probability are candidates."
    )
    xtc_probability: float = Field(
        0.0, ge=0.0, le=1.0, description="XTC: chance to exclude top choices; 0 disables."
    )
    # -- mirostat ----------------------------------------------------------------
    mirostat_mode: Literal[0, 1, 2] = Field(
        0, description="Mirostat version (replaces truncation and temperature); 0 = off."
    )
    mirostat_tau: float = Field(5.0, ge=0.0, le=100.0, description="Mirostat target surprise.")
    mirostat_eta: float = Field(0.1, ge=0.0, le=10.0, description="Mirostat learning rate.")
    # -- misc --------------------------------------------------------------------
    seed: int = Field(
        -1, ge=-1, le=0xFFFFFFFF, description="Sampling seed; -1 picks a fresh one each time."
    )
    logit_bias: dict[int, float] = Field(
        default_factory=dict, description="Token id → bias added to its logit."
    )
    banned_tokens: tuple[int, ...] = Field((), description="Token ids never sampled.")
    banned_strings: tuple[str, ...] = Field(
        (), description="Strings the generation loop never lets through."
    )
    ban_eos: bool = Field(False, description="Never end the reply with EOS.")
    order: tuple[SamplerStage, ...] = Field(
        DEFAULT_ORDER, description="Stage order (SillyTavern `samplers` names)."
    )
    # -- generation --------------------------------------------------------------
    max_new_tokens: int | None = Field(
        None, ge=1, le=65536, description="Reply length in tokens; None = chat default."
    )
    stop: tuple[str, ...] = Field((), description="Extra stop strings.")
    unsupported: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "SillyTavern settings of an import that Parlor does not honour (exactly the "
            "import report's list); kept so that an export gives them back."
        ),
    )
    sillytavern: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "SillyTavern's own spelling of honoured settings and other backends' sampler "
            "orders, kept verbatim so that an export gives the file back; never sampled."
        ),
    )

    @field_validator("order")
    @classmethod
    def _complete_order(cls, value: tuple[SamplerStage, ...]) -> tuple[SamplerStage, ...]:
        if len(set(value)) != len(value):
            raise ValueError("names a stage twice")
        return complete_order(value)

    @field_validator("banned_tokens")
    @classmethod
    def _token_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(t < 0 for t in value):
            raise ValueError("token ids cannot be negative")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _bias_ids(cls, value: dict[int, float]) -> dict[int, float]:
        if any(t < 0 for t in value):
            raise ValueError("token ids cannot be negative")
        return value

    @field_validator("stop", "banned_strings", "dry_sequence_breakers")
    @classmethod
    def _no_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(s == "" for s in value):
            raise ValueError("contains an empty string")
        return value

    @field_validator("unsupported", "sillytavern")
    @classmethod
    def _json_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"holds a value that is not plain JSON ({exc})") from exc
        return value

    @classmethod
    def neutral(cls, name: str = "Neutral") -> Preset:
        """A preset with every sampler at its neutral (disabled) value."""
        return cls(name=name)

    def to_sampler_settings(self) -> SamplerSettings:
        """The engine's view of this preset (reply length and stops are not samplers)."""
        return SamplerSettings(**{f: getattr(self, f) for f in SAMPLER_FIELDS})

    def differences(self) -> dict[str, Any]:
        """Fields (other than name) whose value differs from the neutral default."""
        neutral = Preset.neutral(self.name)
        return {
            key: getattr(self, key)
            for key in type(self).model_fields
            if key != "name" and getattr(self, key) != getattr(neutral, key)
        }

    def to_yaml_data(self) -> dict[str, Any]:
        """Plain data for YAML: the name plus every value that differs from neutral."""
        data: dict[str, Any] = {"name": self.name}
        for key, value in self.differences().items():
            data[key] = _plain(value)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, source: str) -> Preset:
        """Validate plain data (from YAML) strictly: no strings for numbers, no 1 for true.

        A problem raises PresetError naming ``source`` and the key at fault.
        """
        try:
            text = json.dumps(dict(data), allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise PresetError(source, f"holds a value that is not plain data ({exc})") from None
        try:
            return cls.model_validate_json(text, strict=True)
        except ValidationError as exc:
            raise PresetError(source, describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError, rename: Mapping[str, str] | None = None) -> str:
    """One short ``key: problem`` phrase for the first error of ``exc``.

    ``rename`` maps model field names to the names the user wrote (SillyTavern keys).
    """
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = (rename or {}).get(loc[0], loc[0]) if loc else "preset"
    where = ".".join([key, *loc[1:]])
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: missing"
    message = str(error["msg"])
    message = message[0].lower() + message[1:] if message else "invalid"
    return f"{where}: {message} (got {error.get('input')!r})"


def _plain(value: Any) -> Any:
    """Turn tuples into lists (recursively) so YAML writes plain sequences."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
