"""Group-chat speed: a three-member group replayed through Parlor and llama-server.

Run ``python bench/group_chat.py`` (``--turns N`` shortens it; ``--json`` prints one JSON
object ``{"parlor": {...}, "llama_server": {...}, "llama_server_np3": {...},
"ratios": {...}}``).

The chat is SillyTavern's default group setup: *swap* prompts (each member's prompt
starts with its own card, the others appear through name-prefixed history) and the
*list* strategy (every member answers each user message, in order), 60 member turns by
default.  Every few rounds the user asks the member who just spoke to go on (a
*same-speaker* turn), so time to first token on a speaker change can be set against a
same-speaker turn.  Prompts are ChatML text, trimmed from the front to fit ``n_ctx -
max_tokens``; the history overflows the context several times.  Replies in the history
are scripted, so every system gets exactly the same prompts.

The systems, all in one run, on the same model, threads, batch size, context and
sampler settings (those of ``long_chat.py``; end-of-generation banned):

* ``parlor``: ``LlamaCppBackend.stream`` with a KV slot per member (each request's
  ``cache_key`` is its speaker), in a worker process that also imports the UI;
* ``llama_server``: one slot, ``--cache-reuse 256`` and ``cache_prompt``;
* ``llama_server_np3``: ``-np 3``, each slot the whole context, each member's requests
  sent to its own slot (``id_slot``).

Per turn it prints the speaker, prompt tokens evaluated, time to first token and total
time of each system; then totals, the RAM the KV slots take (f16 K and V per context
cell; Parlor: its context plus the saved member states; llama-server: ``-c`` cells, the
whole context per slot) and the ratios the issue targets.  The systems take turns
request by request (in rotating order), so a busy machine slows them alike.

``--think-time SECONDS`` models the user typing between rounds.  Parlor's app fills the
waiting members' KV slots then (idle prefill: ``app.chat.prefill``); here, before
each new user message, Parlor's worker evaluates the next prompt of every member but the
last speaker with ``max_tokens`` 0, and the benchmark waits for it.  Those tokens count
in Parlor's ``prompt_tokens_evaluated`` (and apart, as ``prefill_tokens_evaluated``);
their time is *not* in ``total_s`` nor in time to first token, since the user is typing
meanwhile, but is reported as ``prefill_s``, with ``prefills_over_think_time``: the
rounds whose prefill took longer than the think time (in the app the next reply would
have cut that prefill short).  llama-server gets no such help (SillyTavern sends
nothing while the user types), so with this option the comparison is Parlor-as-an-app
against llama-server-as-SillyTavern-uses-it, not engine against engine.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._peers import (
    LlamaServer,
    ParlorEngine,
    Settings,
    System,
    Turn,
    WorkerProcess,
    add_run_options,
    serve_worker,
)
from bench.long_chat import block, message

SYSTEMS = ("parlor", "llama_server", "llama_server_np3")
MEMBERS = {
    "Mira": "keeper of the Drowned Lantern tavern on the harbor of Saltmere, forty, "
    "broad-shouldered, a former ship's quartermaster who lost two fingers to a kraken "
    "line; warm to regulars, suspicious of the Harbor Guild, keeps a ledger of every debt",
    "Teodor": "the harbor master of Saltmere, sixty, precise and tired, who answers to no "
    "one and owes Mira three barrels; he fears the dragon more than he admits and keeps "
    "the keys to every berth and to the lighthouse on his belt",
    "Ilse": "the lighthouse keeper's daughter, nineteen, a fast talker and a worse liar, "
    "who knows the smugglers' tunnel under the tavern cellar and has not slept since "
    "the lamp went dark; she trusts the cartographer and nobody else",
}
SCENE = (
    "A storm has closed the harbor for a week. Strangers keep arriving with rumors of a "
    "dragon seen over the northern cliffs, and the lighthouse has gone dark. Ash, a "
    "traveling cartographer with a locked map case and a debt to the Guild, sits at the "
    "bar with {group}."
)
#: Every this many rounds the user asks the last speaker to go on (a same-speaker turn).
SAME_EVERY = 4


@dataclass(frozen=True)
class Step:
    """One member turn: its speaker, kind (``change``, ``same``; ``prefill``: Parlor's
    idle prefill of that member's slot while the user types), prompt and seed."""

    turn: int
    speaker: str
    kind: str
    prompt: str
    seed: int


class GroupChat:
    """The group chat being replayed: history and each speaker's swap-mode prompt."""

    def __init__(self, count_tokens: Callable[[str], int], n_ctx: int, max_tokens: int):
        self.count = count_tokens
        self.budget = n_ctx - max_tokens - 8
        self.history: list[tuple[str, str]] = []  # (speaker, text); "Ash" is the user

    def story(self, speaker: str) -> str:
        """The speaker's card and the scene (swap mode: the others are not described)."""
        others = ", ".join(name for name in MEMBERS if name != speaker)
        card = f"You are {speaker}, {MEMBERS[speaker]}. Write {speaker}'s next reply only."
        return block("system", f"{card}\n\n{SCENE.format(group=others)}")

    def prompt(self, speaker: str) -> str:
        """The ChatML prompt for ``speaker``: story, history trimmed from the front."""
        story = self.story(speaker)
        blocks = [
            block("user" if who == "Ash" else "assistant", f"{who}: {text}")
            for who, text in self.history
        ]
        tail = f"<|im_start|>assistant\n{speaker}:"
        sizes = [self.count(b) for b in blocks]
        fixed = self.count(story) + self.count(tail)
        start = 0
        while start < len(blocks) and sum(sizes[start:]) + fixed > self.budget:
            start += 1
        text = story + "".join(blocks[start:]) + tail
        while self.count(text) > self.budget and start < len(blocks):
            start += 1
            text = story + "".join(blocks[start:]) + tail
        return text


def build_script(
    turns: int,
    count_tokens: Callable[[str], int],
    n_ctx: int,
    max_tokens: int,
    *,
    prefill: bool = False,
) -> list[Step]:
    """``turns`` member turns of a list-strategy group (and a same-speaker turn now and
    then); each member's scripted reply joins the history after its turn.  ``prefill``:
    before each user message but the first, a ``prefill`` step per waiting member."""
    rng = random.Random(20261207)
    chat = GroupChat(count_tokens, n_ctx, max_tokens)
    names = list(MEMBERS)
    steps: list[Step] = []

    def add(name: str, kind: str) -> None:
        seed = 2000 + sum(s.kind != "prefill" for s in steps)
        steps.append(Step(len(steps), name, kind, chat.prompt(name), seed))

    rounds = replies = 0
    while replies < turns:
        if prefill and steps:
            for name in names[:-1]:  # every member but the last speaker
                add(name, "prefill")
        chat.history.append(("Ash", message(rng, 1, 3)))
        rounds += 1
        for name in names[: turns - replies]:
            add(name, "change" if steps else "first")
            chat.history.append((name, message(rng, 2, 5)))
            replies += 1
        if rounds % SAME_EVERY == 0 and replies < turns:
            last = names[-1]
            chat.history.append(("Ash", f"{last}, go on. " + message(rng, 1, 1)))
            add(last, "same")
            chat.history.append((last, message(rng, 2, 5)))
            replies += 1
    return steps


class ParlorGroupEngine(ParlorEngine):
    """Parlor's engine, reporting the RAM its saved member slots take."""

    def slots(self) -> dict[str, float]:
        """The saved member states, in MiB (the live one is the context's KV cache)."""
        return {"saved_states_mb": self.backend.kv.saved_states_bytes / 2**20}


def kv_mb_per_cell(vocab: Any) -> float:
    """What one KV cell (one token of context) takes in f16, in MiB (GGUF metadata)."""
    meta = vocab.metadata
    arch = meta["general.architecture"]
    n_embd, heads = int(meta[f"{arch}.embedding_length"]), int(meta[f"{arch}.attention.head_count"])
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    per_cell = 2 * int(meta[f"{arch}.block_count"]) * (n_embd // heads * kv_heads) * 2
    return per_cell / 2**20


def start_systems(names: Sequence[str], settings: Settings, log_dir: Path) -> list[System]:
    """Start the workers and servers."""
    script = Path(__file__).resolve()
    started: list[System] = []
    for name in names:
        if name == "llama_server":
            started.append(LlamaServer(settings, log_dir / "llama-server.log"))
        elif name == "llama_server_np3":
            server = LlamaServer(settings, log_dir / "llama-server-np3.log", parallel=3)
            server.name = name
            started.append(server)
        else:
            started.append(
                WorkerProcess(name, script, settings, ["--n-batch", str(settings.n_batch)])
            )
    return started


def replay(
    systems: Sequence[System], steps: Sequence[Step], max_tokens: int, verbose: bool
) -> dict[str, list[tuple[Step, Turn]]]:
    """Send every step to every system, rotating who goes first (a ``prefill`` step to
    Parlor only, generating nothing)."""
    results: dict[str, list[tuple[Step, Turn]]] = {s.name: [] for s in systems}
    if verbose:
        short = " ".join(f"{s.name[:10]:>10}" for s in systems)
        print(f"turn speaker kind   prompt | evaluated {short} | ttft ms {short}")
    for step in steps:
        shift = step.turn % len(systems)
        prefill = step.kind == "prefill"
        for system in [*systems[shift:], *systems[:shift]]:
            if prefill and system.name != "parlor":
                continue
            tokens = 0 if prefill else max_tokens
            turn = system.complete(step.prompt, step.seed, tokens, step.speaker)
            results[system.name].append((step, turn))
        if verbose and not prefill:
            turns = [results[s.name][-1][1] for s in systems]
            evaluated = " ".join(f"{t.evaluated:>10}" for t in turns)
            ttft = " ".join(f"{t.ttft_s * 1000:>10.0f}" for t in turns)
            print(
                f"{step.turn:>4} {step.speaker:<7} {step.kind:<6} {turns[0].prompt_tokens:>6} "
                f"| evaluated {evaluated} | ttft ms {ttft}",
                flush=True,
            )
    return results


def _rounds_over(done: Sequence[tuple[Step, Turn]], think_time: float) -> int:
    """How many rounds' prefills took longer than the user's think time."""
    spent = [0.0]
    for step, turn in done:
        if step.kind == "prefill":
            spent[-1] += turn.total_s
        elif spent[-1]:
            spent.append(0.0)
    return sum(seconds > think_time for seconds in spent)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def summary(
    done: Sequence[tuple[Step, Turn]], think_time: float, slots_mb: float, rss: float
) -> dict[str, Any]:
    """Totals for one system (idle prefills: in the evaluated tokens, not in the times)."""
    pairs = [(t, s) for s, t in done if s.kind != "prefill"]
    turns = [t for t, _ in pairs]
    fills = [t for s, t in done if s.kind == "prefill"]
    change = [t.ttft_s for t, s in pairs if s.kind == "change"]
    same = [t.ttft_s for t, s in pairs if s.kind == "same"]
    return {
        "total_s": round(sum(t.total_s for t in turns), 3),
        "prompt_tokens_evaluated": sum(t.evaluated for t in [*turns, *fills]),
        "prefill_tokens_evaluated": sum(t.evaluated for t in fills),
        "prefill_s": round(sum(t.total_s for t in fills), 3),
        "prefills_over_think_time": _rounds_over(done, think_time),
        "prompt_tokens": sum(t.prompt_tokens for t in turns),
        "ttft_p50_s": _median([t.ttft_s for t in turns]),
        "ttft_speaker_change_p50_s": _median(change),
        "ttft_same_speaker_p50_s": _median(same),
        "slots_ram_mb": round(slots_mb, 1),
        "peak_rss_mb": round(rss, 1),
        "turns": [
            {"turn": s.turn, "speaker": s.speaker, "kind": s.kind, **t.to_json()} for t, s in pairs
        ],
    }


def ratios(report: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Parlor against the better llama-server setup, and its speaker-change TTFT."""
    out: dict[str, float] = {}
    parlor = report.get("parlor")
    peers = [report[n] for n in ("llama_server", "llama_server_np3") if n in report]
    if parlor is None:
        return out
    if peers:
        best = min(peer["total_s"] for peer in peers)
        out["total_vs_best_llama_server"] = round(parlor["total_s"] / best, 3)
    change, same = parlor["ttft_speaker_change_p50_s"], parlor["ttft_same_speaker_p50_s"]
    if change and same:
        out["ttft_change_vs_same_speaker"] = round(change / same, 3)
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_options(parser, turns=60, systems=SYSTEMS)
    parser.add_argument("--worker", choices=("parlor",))
    parser.add_argument(
        "--think-time", type=float, default=0.0, metavar="SECONDS",
        help="the user types this long between rounds: Parlor fills the members' slots then",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or the Parlor worker)."""
    args = parse_args(argv)
    if not args.model:
        from app.engine.models import bundled_model_path

        args.model = str(bundled_model_path())
    settings = Settings(
        args.model, args.n_ctx, args.threads, args.n_batch, args.flash_attn == "on",
        args.n_gpu_layers,
    )  # fmt: skip
    if args.worker:
        serve_worker(ParlorGroupEngine(settings))
        return 0
    import llama_cpp

    vocab = llama_cpp.Llama(args.model, vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=True))

    prefill = args.think_time > 0
    steps = build_script(args.turns, count, args.n_ctx, args.max_tokens, prefill=prefill)
    names = [n for n in (args.systems or ",".join(SYSTEMS)).split(",") if n]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory() as tmp:
        systems = start_systems(names, settings, Path(tmp))
        try:
            results = replay(systems, steps, args.max_tokens, not args.json)
            per_cell = kv_mb_per_cell(vocab)
            slots = {s.name: _slots_mb(s, args.n_ctx, per_cell) for s in systems}
            peaks = {s.name: s.peak_rss_mb() for s in systems}
        finally:
            for system in systems:
                system.close()
    report = {n: summary(results[n], args.think_time, slots[n], peaks[n]) for n in names}
    document = {**report, "ratios": ratios(report)}
    if args.out:
        Path(args.out).write_text(json.dumps(document, indent=1))
    if args.json:
        print(json.dumps(document))
    else:
        _print_totals(report, document["ratios"])
    return 0


def _slots_mb(system: System, n_ctx: int, per_cell: float) -> float:
    """The KV cache of each system: cells × size, plus Parlor's saved member states."""
    if isinstance(system, WorkerProcess):
        return n_ctx * per_cell + float(system.ask({"probe": "slots"})["saved_states_mb"])
    if isinstance(system, LlamaServer):
        return n_ctx * system.parallel * per_cell
    return 0.0


def _print_totals(report: dict[str, dict[str, Any]], found: dict[str, float]) -> None:
    keys = [
        "total_s", "prompt_tokens_evaluated", "ttft_p50_s", "ttft_speaker_change_p50_s",
        "ttft_same_speaker_p50_s", "slots_ram_mb", "peak_rss_mb", "prefill_tokens_evaluated",
        "prefill_s", "prefills_over_think_time",
    ]  # fmt: skip
    print()
    print(f"{'':>28}" + "".join(f"{k:>18}" for k in report))
    for key in keys:
        print(f"{key:>28}" + "".join(f"{v[key]!s:>18}" for v in report.values()))
    for key, value in found.items():
        print(f"{key:>34}: {value}")


if __name__ == "__main__":
    raise SystemExit(main())
