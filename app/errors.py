"""Typed errors raised by Parlor's layers and mapped once at each boundary.

Every error a user may see derives from :class:`ParlorError`; its ``str()`` is one
line that names the file or field at fault.  The API maps these to OpenAI-style JSON
errors (status codes and error types live in :mod:`app.api.errors`), the UI to a visible
message and the CLI to a single line with no traceback.  Anything that is not a
``ParlorError`` is a bug and is allowed to raise.
"""

from __future__ import annotations


class ParlorError(Exception):
    """Base class of every error Parlor reports to a user."""

    #: A short machine-readable name for the error (the API sends it as ``error.code``).
    code: str | None = None


class InputError(ParlorError):
    """Bad input from a file or a request field.

    ``source`` names the file (or file and line, or request field) and ``problem``
    says what is wrong with it, in a short phrase.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class CardError(InputError):
    """A character card that cannot be read or written."""


class LorebookError(InputError):
    """A lorebook / World Info file that cannot be read."""


class PresetError(InputError):
    """A sampler preset that is malformed or out of range."""


class TemplateError(InputError):
    """A prompt template that cannot be imported or rendered."""


class ChatFileError(InputError):
    """A chat file (SillyTavern JSONL) that cannot be imported."""


class ModelLoadError(InputError):
    """A model file that is missing, truncated or not a GGUF model."""


class ContextLengthExceeded(ParlorError):
    """The prompt plus the reply budget does not fit into the model's context."""

    code = "context_length_exceeded"

    def __init__(self, n_prompt: int, n_ctx: int, *, unit: str = "tokens") -> None:
        self.n_prompt = n_prompt
        self.n_ctx = n_ctx
        super().__init__(
            f"prompt has {n_prompt} {unit}, more than the context window of {n_ctx} tokens"
        )


class ModelNotLoaded(ParlorError):
    """No model is loaded, so nothing can be generated."""

    code = "model_not_loaded"

    def __init__(self) -> None:
        super().__init__("no model is loaded: pick a GGUF file on the Models tab")


class NotFound(ParlorError):
    """A named thing (character, chat, preset, template, model) does not exist."""

    code = "not_found"

    def __init__(self, kind: str, key: str | int) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} named {key!r}")


class Busy(ParlorError):
    """The generation queue is full."""

    code = "queue_full"


class RemoteBackendError(ParlorError):
    """A remote OpenAI-compatible server failed or refused a request."""


class RemoteRateLimited(RemoteBackendError):
    """The remote server refused a request with 429 (too many requests)."""

    code = "remote_rate_limited"
