"""A backend that generates on a remote OpenAI-compatible server.

Two modes:

* ``completions`` sends Parlor's formatted prompt (``GenerationRequest.prompt_text``)
  to ``/v1/completions`` with every sampler setting under llama.cpp's names (top_k,
  min_p, DRY, XTC, dynamic temperature, ``samplers`` order, ``grammar``): for llama.cpp's
  ``llama-server``, llama-cpp-python's server, koboldcpp and the like.
* ``chat`` sends ``GenerationRequest.messages`` to ``/v1/chat/completions`` with the
  OpenAI fields, plus only those extensions that are switched on (a strict server such
  as OpenAI's refuses unknown fields).

Tokens are counted with the server's tokenizer: ``POST /tokenize`` (llama-server and
Parlor), else ``POST /extras/tokenize`` (llama-cpp-python), else estimated as one token
per four characters (``info.architecture`` then says so).

Errors before any text arrives raise :class:`~app.errors.RemoteBackendError` with a
one-line reason (refused key, rate limit, timeout, unreachable); a stream that breaks
after text arrived ends with ``Finished(finish_reason="error")`` keeping the partial text.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import httpx

from app.engine.base import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    TextDelta,
)
from app.engine.sampling import SamplerSettings
from app.engine.stopping import StopMatcher
from app.errors import RemoteBackendError, RemoteRateLimited

RemoteMode = Literal["completions", "chat"]
TokenizerKind = Literal["llama-server", "llama-cpp-python", "estimate"]

DEFAULT_TIMEOUT = 120.0
#: The estimate used when the server offers no tokenizer endpoint.
CHARS_PER_TOKEN = 4
#: Token counts remembered per text (the prompt builder counts the same texts often).
COUNT_CACHE_SIZE = 4096
#: How often a waiting stream checks whether it was told to stop (seconds).
STOP_POLL_SECONDS = 0.02
#: llama.cpp's names for Parlor's sampler stages (``samplers`` in llama-server).
_STAGE_NAMES = {"typical_p": "typ_p"}


class RemoteBackend:
    """Generates on a remote OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        mode: RemoteMode = "completions",
        timeout: float = DEFAULT_TIMEOUT,
        n_ctx: int = 8192,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._api = api_root(base_url)
        self._root = self._api.removesuffix("/v1")
        self._mode: RemoteMode = mode
        self._model = model
        self._timeout = timeout
        self._n_ctx = n_ctx
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._tokenizer: TokenizerKind | None = None
        self._counts: dict[str, int] = {}
        self._info = self._make_info()

    # -- facts ---------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        """The remote model's facts, as far as they are known."""
        return self._info

    @property
    def mode(self) -> RemoteMode:
        """``completions`` or ``chat``."""
        return self._mode

    @property
    def tokenizer(self) -> TokenizerKind | None:
        """Which tokenizer endpoint is used (None until the first tokenization)."""
        return self._tokenizer

    def probe(self) -> None:
        """Check the server now: the key, the model name and the tokenizer endpoint.

        Picks the server's first model when none was named.  Raises RemoteBackendError.
        """
        response = self._request("GET", f"{self._api}/models")
        models = [m.get("id") for m in _json(response).get("data", []) if isinstance(m, dict)]
        if self._model is None and models and isinstance(models[0], str):
            self._model = models[0]
        self._n_ctx = self._served_context() or self._n_ctx
        self._detect_tokenizer()
        self._info = self._make_info()

    def _served_context(self) -> int | None:
        """The context size llama-server reports on ``/props`` (None elsewhere)."""
        response = self._send("GET", f"{self._root}/props")
        if response.status_code != 200:
            return None
        data = _json(response)
        settings = data.get("default_generation_settings")
        n_ctx = data.get("n_ctx") or (settings.get("n_ctx") if isinstance(settings, dict) else None)
        return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None

    def _make_info(self) -> ModelInfo:
        notes = f"remote {self._mode} API"
        if self._tokenizer == "estimate":
            notes += f", token counts estimated (1 per {CHARS_PER_TOKEN} characters)"
        return ModelInfo(
            name=self._model or "remote model",
            path=self._api,
            architecture=notes,
            n_ctx=self._n_ctx,
            n_ctx_train=self._n_ctx,
            n_vocab=0,
            chat_template=None,
            bos_token="",
            eos_token="",
            bos_token_id=-1,
            eos_token_id=-1,
            eot_token_id=None,
            add_bos=False,
        )

    # -- tokens --------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Token ids from the server's tokenizer (placeholder ids when only estimated)."""
        kind = self._tokenizer or self._detect_tokenizer()
        if kind == "llama-server":
            body = {"content": text, "add_special": add_bos, "parse_special": special}
            return _token_list(self._request("POST", f"{self._root}/tokenize", json=body))
        if kind == "llama-cpp-python":
            body_py = {"input": text}
            return _token_list(self._request("POST", f"{self._root}/extras/tokenize", json=body_py))
        return [0] * math.ceil(len(text) / CHARS_PER_TOKEN)

    def detokenize(self, tokens: Sequence[int], *, special: bool = True) -> str:
        """Text for token ids, from the server's detokenizer."""
        kind = self._tokenizer or self._detect_tokenizer()
        body = {"tokens": list(tokens)}
        if kind == "llama-server":
            data = _json(self._request("POST", f"{self._root}/detokenize", json=body))
            return str(data.get("content", ""))
        if kind == "llama-cpp-python":
            data = _json(self._request("POST", f"{self._root}/extras/detokenize", json=body))
            return str(data.get("text", ""))
        raise RemoteBackendError(f"{self._api}: the server offers no detokenize endpoint")

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` becomes (remembered per text)."""
        count = self._counts.get(text)
        if count is None:
            count = len(self.tokenize(text))
            if len(self._counts) >= COUNT_CACHE_SIZE:
                self._counts.pop(next(iter(self._counts)))
            self._counts[text] = count
        return count

    def _detect_tokenizer(self) -> TokenizerKind:
        kind: TokenizerKind = "estimate"
        for candidate, url, body in (
            ("llama-server", f"{self._root}/tokenize", {"content": "a"}),
            ("llama-cpp-python", f"{self._root}/extras/tokenize", {"input": "a"}),
        ):
            response = self._send("POST", url, json=body)
            if response.status_code in (404, 405):
                continue
            _check(response, self._api)
            if isinstance(_json(response).get("tokens"), list):
                kind = candidate  # type: ignore[assignment]
                break
        self._tokenizer = kind
        self._info = self._make_info()
        return kind

    # -- generation ----------------------------------------------------------------------

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """Stream the remote reply; one generation at a time."""
        path, body = self._payload(request)
        with self._lock:
            self._abort.clear()
            yield from self._generate(request, path, body)

    def abort(self) -> None:
        """Stop the running generation now, even while the server is still reading the
        prompt: the connection is shut, which also tells the server to stop."""
        self._abort.set()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _generate(
        self, request: GenerationRequest, path: str, body: dict[str, Any]
    ) -> Iterator[GenerationEvent]:
        reply = _Reply(request, self._mode)
        lines = StreamLines(self._client, f"{self._api}{path}", body, self._api)

        def stopped() -> bool:
            return self._abort.is_set() or request.cancel.is_set()

        try:
            for line in lines.read(stopped):
                delta = reply.feed(line)
                if delta:
                    yield TextDelta(delta)
                if reply.done:
                    break
            else:
                if lines.stopped:
                    reply.reason = "aborted"
                else:
                    reply.end_of_stream(self._api)
        except httpx.TimeoutException as exc:
            self._fail(reply, f"timed out after {self._timeout:g} s", exc)
        except httpx.TransportError as exc:
            dropped = f"stream dropped after {len(reply.text)} characters ({exc})"
            self._fail(
                reply, dropped if reply.received else f"cannot reach the server ({exc})", exc
            )
        finally:
            lines.close()
        tail = reply.flush()
        if tail:
            yield TextDelta(tail)
        yield reply.finished()

    def _fail(self, reply: _Reply, problem: str, exc: httpx.HTTPError) -> None:
        """Raise for a failure before any data arrived; otherwise end the reply with it."""
        if not reply.received:
            raise RemoteBackendError(f"{self._api}: {problem}") from exc
        reply.fail(f"{self._api}: {problem}")

    def _payload(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        s = request.sampler
        body: dict[str, Any] = {
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": request.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "presence_penalty": s.presence_penalty,
            "frequency_penalty": s.frequency_penalty,
        }
        if self._model:
            body["model"] = self._model
        if request.stop:
            body["stop"] = list(request.stop)
        if s.seed >= 0:
            body["seed"] = s.seed
        bias = {**s.logit_bias, **{t: -100.0 for t in s.banned_tokens}}
        if bias:
            body["logit_bias"] = {str(t): b for t, b in bias.items()}
        if request.grammar is not None:
            body["grammar"] = request.grammar
        extras = sampler_extras(s)
        if self._mode == "chat":
            if request.messages is None:
                raise RemoteBackendError(f"{self._api}: chat mode needs the messages, none given")
            neutral = sampler_extras(SamplerSettings())
            body.update({k: v for k, v in extras.items() if v != neutral.get(k)})
            body["messages"] = [{"role": r, "content": c} for r, c in request.messages]
            return "/chat/completions", body
        body.update(extras)
        prompt = request.prompt_text
        body["prompt"] = prompt if prompt is not None else self.detokenize(request.prompt_tokens)
        return "/completions", body

    # -- HTTP ----------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RemoteBackendError(f"{self._api}: timed out after {self._timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise RemoteBackendError(f"{self._api}: cannot reach the server ({exc})") from exc

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, url, **kwargs)
        _check(response, self._api)
        return response


class StreamLines:
    """The lines of one streamed POST, read in a thread of their own.

    The reading thread may block for a long time (a server evaluating a long prompt sends
    nothing); the caller polls, so a stop takes effect at once: :meth:`close` shuts the
    socket, which wakes the reader and tells the server the client has gone.
    """

    def __init__(self, client: httpx.Client, url: str, body: dict[str, Any], api: str) -> None:
        self._client, self._url, self._body, self._api = client, url, body, api
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._response: httpx.Response | None = None
        self._closing = threading.Event()
        self.stopped = False
        self._thread = threading.Thread(target=self._run, name="parlor-remote-read", daemon=True)

    def read(self, should_stop: Callable[[], bool]) -> Iterator[str]:
        """Lines as they arrive; raises what the reader met; ends early once ``should_stop``."""
        self._thread.start()
        while True:
            if should_stop():
                self.stopped = True
                return
            try:
                kind, value = self._queue.get(timeout=STOP_POLL_SECONDS)
            except queue.Empty:
                continue
            if kind == "line":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def close(self) -> None:
        """Stop reading: shut the connection (the reader thread then ends by itself)."""
        self._closing.set()
        response = self._response
        if response is None or not self._thread.is_alive():
            return
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        try:
            with self._client.stream("POST", self._url, json=self._body) as response:
                self._response = response
                if self._closing.is_set():  # stopped before the server answered
                    return
                _check(response, self._api)
                for line in response.iter_lines():
                    if self._closing.is_set():
                        return
                    self._queue.put(("line", line))
            self._queue.put(("end", None))
        except Exception as exc:  # handed to the reading caller, raised there
            if not self._closing.is_set():
                self._queue.put(("error", exc))


def connect_remote(
    base_url: str,
    *,
    api_key: str | None = None,
    model: str | None = None,
    mode: RemoteMode = "completions",
    n_ctx: int = 8192,
) -> RemoteBackend:
    """A remote backend checked now (address, key, model, tokenizer), or RemoteBackendError."""
    backend = RemoteBackend(base_url, api_key=api_key, model=model, mode=mode, n_ctx=n_ctx)
    try:
        backend.probe()
    except RemoteBackendError:
        backend.close()
        raise
    return backend


def api_root(base_url: str) -> str:
    """The ``…/v1`` root of an OpenAI-compatible server, given with or without ``/v1``."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise RemoteBackendError(f"remote URL {base_url!r}: must start with http:// or https://")
    return url if url.endswith("/v1") else f"{url}/v1"


def sampler_extras(s: SamplerSettings) -> dict[str, Any]:
    """The llama.cpp-server sampler fields beyond OpenAI's, under their llama.cpp names."""
    return {
        "top_k": s.top_k,
        "min_p": s.min_p,
        "typical_p": s.typical_p,
        "top_n_sigma": s.top_n_sigma,
        "repeat_penalty": s.repeat_penalty,
        "repeat_last_n": s.repeat_last_n,
        "dry_multiplier": s.dry_multiplier,
        "dry_base": s.dry_base,
        "dry_allowed_length": s.dry_allowed_length,
        "dry_penalty_last_n": s.dry_penalty_last_n,
        "dry_sequence_breakers": list(s.dry_sequence_breakers),
        "xtc_probability": s.xtc_probability,
        "xtc_threshold": s.xtc_threshold,
        "dynatemp_range": s.dynatemp_range,
        "dynatemp_exponent": s.dynatemp_exponent,
        "mirostat": s.mirostat_mode,
        "mirostat_mode": s.mirostat_mode,
        "mirostat_tau": s.mirostat_tau,
        "mirostat_eta": s.mirostat_eta,
        "ignore_eos": s.ban_eos,
        "samplers": [_STAGE_NAMES.get(stage, stage) for stage in s.order],
    }


class _Reply:
    """The state of one streamed reply: text so far, finish reason, usage, stop strings."""

    def __init__(self, request: GenerationRequest, mode: RemoteMode) -> None:
        self._request = request
        self._mode = mode
        self._stop = StopMatcher(request.stop)
        self._started = time.perf_counter()
        self._first_text: float | None = None
        self._chunks = 0
        self._usage: dict[str, Any] = {}
        self.text = ""
        self.received = False
        self._finish_seen = False
        self.done = False
        self.reason: FinishReason = "stop"
        self.error: str | None = None

    def feed(self, line: str) -> str:
        """Take one SSE line; return the text it adds (after stop strings)."""
        if not line.startswith("data:"):
            return ""
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return ""
        self.received = True
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            return ""
        if not isinstance(chunk, dict):
            return ""
        if chunk.get("error"):
            self.fail(f"the remote server reported an error: {_error_text(chunk)}")
            self._finish_seen = True
            self.done = True
            return ""
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        return self._take_choice(chunk)

    def _take_choice(self, chunk: dict[str, Any]) -> str:
        choices = chunk.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        if self._mode == "chat":
            piece = (choice.get("delta") or {}).get("content") or ""
        else:
            piece = choice.get("text") or ""
        reason = choice.get("finish_reason")
        if reason:
            self.reason = "length" if reason == "length" else "stop"
            self._finish_seen = True
        if not piece:
            return ""
        self._chunks += 1
        if self._first_text is None:
            self._first_text = time.perf_counter()
        delta = self._stop.feed(piece)
        self.text += delta
        if self._stop.stopped:
            self.reason = "stop"
            self.done = True
        return delta

    def end_of_stream(self, api: str) -> None:
        """The connection closed: fine after a finish reason, a dropped stream otherwise."""
        if not self._finish_seen:
            self.fail(f"{api}: stream dropped after {len(self.text)} characters")

    def fail(self, problem: str) -> None:
        """End the reply with an error, keeping its text."""
        if self.error is None:
            self.reason = "error"
            self.error = problem

    def flush(self) -> str:
        """Text held back by stop-string matching, released at the end."""
        tail = self._stop.flush() if not self._stop.stopped else ""
        self.text += tail
        return tail

    def finished(self) -> Finished:
        """The last event."""
        now = time.perf_counter()
        first = self._first_text or now
        n_prompt = int(self._usage.get("prompt_tokens") or len(self._request.prompt_tokens))
        n_completion = int(self._usage.get("completion_tokens") or self._chunks)
        seed = self._request.sampler.seed
        stats = GenerationStats(
            n_prompt, n_completion, 0, n_prompt, first - self._started, now - first, seed
        )
        return Finished(self.reason, self.text, stats, self.error)


def _check(response: httpx.Response, api: str) -> None:
    """Raise a RemoteBackendError naming the problem for an HTTP error status."""
    status = response.status_code
    if status < 400:
        return
    response.read()
    detail = _error_text(_json_or_text(response))
    if status in (401, 403):
        raise RemoteBackendError(f"{api}: the remote server refused the API key ({status})")
    if status == 429:
        raise RemoteRateLimited(f"{api}: rate limited (429): {detail}")
    if status == 404:
        raise RemoteBackendError(f"{api}: not found (404), wrong URL or model? {detail}")
    raise RemoteBackendError(f"{api}: the remote server answered {status}: {detail}")


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


def _json(response: httpx.Response) -> dict[str, Any]:
    data = _json_or_text(response)
    return data if isinstance(data, dict) else {}


def _error_text(data: Any) -> str:
    """One line of error text from an OpenAI, FastAPI or plain-text error body."""
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            error = error.get("message", error)
        text = str(error)
    else:
        text = str(data)
    return " ".join(text.split())[:300] or "no details"


def _token_list(response: httpx.Response) -> list[int]:
    tokens = _json(response).get("tokens", [])
    return [t["id"] if isinstance(t, dict) else int(t) for t in tokens]
