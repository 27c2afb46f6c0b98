"""One settings object: defaults < ``config.yaml`` in the data folder < environment < CLI.

Every field carries help text; the command line flags of ``parlor serve`` are generated
from these fields (see :mod:`app.cli`), so the two cannot drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.errors import InputError

KvCacheType = Literal["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"]

CONFIG_FILE_NAME = "config.yaml"
#: Settings whose values are secrets: never shown, and a config file holding one is private.
SECRET_SETTINGS = ("api_key", "ui_password", "remote_api_key")
HOME_ENV = "PARLOR_HOME"


class SettingsError(InputError):
    """A setting (from the config file, environment or command line) is invalid."""


def default_data_dir() -> Path:
    """The per-user data folder, unless ``PARLOR_HOME`` points elsewhere."""
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else Path(platformdirs.user_data_dir("parlor"))


class Settings(BaseSettings):
    """Everything Parlor can be configured with, each field with its help text."""

    model_config = SettingsConfigDict(
        env_prefix="PARLOR_", extra="forbid", validate_default=True, frozen=True
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the database, config.yaml and models "
        f"(also env {HOME_ENV}; default: the per-user data folder).",
    )
    model: Path | None = Field(
        None,
        description="GGUF model file to load at start (default: first GGUF in the "
        "models folder, else the bundled SmolLM2-135M-Instruct).",
    )
    models_dir: Path | None = Field(
        None, description="Folder scanned for GGUF models (default: DATA_DIR/models)."
    )
    host: str = Field("127.0.0.1", description="Address to serve the UI and API on.")
    port: int = Field(7860, ge=1, le=65535, description="Port to serve the UI and API on.")
    n_ctx: int = Field(
        8192, ge=256, description="Context size in tokens (capped at the model's training context)."
    )
    n_gpu_layers: int | None = Field(
        None,
        ge=-1,
        description="Layers to offload to the GPU; -1 = all "
        "(default: all when this build supports GPU offload, else 0).",
    )
    threads: int | None = Field(
        None, ge=1, description="CPU threads for generation (default: all cores)."
    )
    n_batch: int = Field(512, ge=32, description="Prompt-processing batch size in tokens.")
    flash_attn: bool = Field(False, description="Use flash attention.")
    memory: bool = Field(
        True,
        description="Long-term memory: recall messages that left the context "
        "(each chat can switch it off).",
    )
    cache_type_k: KvCacheType = Field("f16", description="KV cache data type for keys.")
    cache_type_v: KvCacheType = Field(
        "f16", description="KV cache data type for values (quantized V needs --flash-attn)."
    )
    saved_states_mb: int = Field(
        512,
        ge=0,
        description="RAM in MB for the KV caches of recently used chats and group members, "
        "so that going back to one evaluates only what is new (0: keep none).",
    )
    api_key: str | None = Field(None, description="Require this bearer key on every /v1 API route.")
    ui_user: str = Field("parlor", min_length=1, description="User name of the UI login.")
    ui_password: str | None = Field(
        None,
        description="Require a login with --ui-user and this password to open the UI "
        "(needed, with --api-key, to serve beyond this machine).",
    )
    max_request_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Largest API request body in bytes; a larger one is refused with "
        "413 before it is read.",
    )
    remote_url: str | None = Field(
        None,
        description="Generate on this OpenAI-compatible server instead of a local model "
        "(base URL, e.g. http://127.0.0.1:8080/v1).",
    )
    remote_api_key: str | None = Field(
        None, description="API key sent to --remote-url as a bearer token."
    )
    remote_model: str | None = Field(
        None, description="Model name to ask --remote-url for (default: its first model)."
    )
    remote_mode: Literal["completions", "chat"] = Field(
        "completions",
        description="completions: send Parlor's formatted prompt and sampler settings to "
        "/v1/completions; chat: send the messages to /v1/chat/completions.",
    )
    inbrowser: bool = Field(False, description="Open the UI in a browser after start.")
    allow_remote_images: bool = Field(
        False,
        description="Show images that messages and cards link from other sites (off: only "
        "images inside the card or chat are shown, so no site learns when you open one).",
    )

    @field_validator("data_dir", "model", "models_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Command line (init kwargs) beats environment beats config file beats defaults."""
        return (init_settings, env_settings, _YamlConfigSource(settings_cls))

    @property
    def models_folder(self) -> Path:
        """Where GGUF files are looked for."""
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def database_path(self) -> Path:
        """The one SQLite file."""
        return self.data_dir / "parlor.db"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings, with ``overrides`` (from the command line) ranked highest."""
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise SettingsError(_source_of(exc, given), _first_problem(exc)) from exc


class _YamlConfigSource(PydanticBaseSettingsSource):
    """Reads ``config.yaml`` from the data folder chosen by the higher-ranked sources."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _data_dir_from_higher_sources(self.current_state) / CONFIG_FILE_NAME
        if not path.is_file():
            return {}
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise SettingsError(str(path), f"not valid YAML ({exc.__class__.__name__})") from exc
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            raise SettingsError(str(path), "must be a mapping of setting: value")
        known = set(self.settings_cls.model_fields)
        for key in loaded:
            if key not in known:
                raise SettingsError(str(path), f"unknown setting {key!r}")
        return {k: v for k, v in loaded.items() if k != "data_dir"}


def _data_dir_from_higher_sources(state: dict[str, Any]) -> Path:
    given = state.get("data_dir")
    if given:
        return Path(given).expanduser()
    env = os.environ.get("PARLOR_DATA_DIR")
    return Path(env).expanduser() if env else default_data_dir()


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "settings"
    return f"{field}: {error['msg']}"


def _source_of(exc: ValidationError, given: dict[str, Any]) -> str:
    field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
    if field in given:
        return f"--{field.replace('_', '-')}"
    if f"PARLOR_{field.upper()}" in os.environ:
        return f"PARLOR_{field.upper()}"
    return "settings"
