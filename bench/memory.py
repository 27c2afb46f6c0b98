"""Long-term memory: embedding speed, recall latency, time to first token, RSS, recall quality.

Run ``python bench/memory.py`` (``--turns N`` shortens the replay, ``--parts`` picks
measurements, ``--json FILE`` also writes the figures).  Everything runs in one process
on the bundled SmolLM2 and the bundled all-MiniLM-L6-v2; memory off is measured in the
same run:

* embedding: a 600-message chat embedded as ``parlor import`` does (messages/s, the
  median and the best of five rebuilds), and, after the RSS figures, the same chunks
  through sentence-transformers' own ``encode`` (float32, batches of 32): this machine's
  speed in the same run, for a ratio (its speed drifts by 20–40% over an hour);
* recall query: one turn's search (the new message embedded, the two before it held
  already) over a 10,000-message chat's vectors (random unit vectors stored through the
  repository, so no hour of embedding);
* time to first token over a replay of ``--turns`` turns at n_ctx 2048: two chats with
  messages of the same lengths (not the same words), memory on and off, taking turns;
  each turn starts when the memory-on chat's background work is done (summaries, and
  KV slots filled with a new story so far or a moved memories block), as a user's
  reading and typing would let it be: how long that work took after each reply is
  reported beside (``background_s``);
* RSS: the process (the app with its UI imported and SmolLM2 loaded) before and after
  the embedder is loaded, and after the 600-message embedding;
* recall quality: the planted-fact test (600 messages, five facts in the first 70,
  n_ctx 2048): how many questions bring their fact into the prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.chat.memory.index import chunks_of, digest_of
from app.context import AppContext, build_context
from app.engine.embedder import MODEL_NAME
from app.engine.llamacpp import LoadOptions
from app.engine.models import bundled_model_path
from app.settings import Settings
from app.storage.memory_types import MemorySettings, StoredChunk
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import ChatSettings, Role
from tests.memory.test_recall import FACTS, long_chat

WORDS = [
    "the",
    "lighthouse",
    "keeper",
    "ship",
    "storm",
    "river",
    "tavern",
    "wine",
    "mill",
    "harbour",
    "gulls",
    "nets",
    "said",
    "walked",
    "looked",
    "quietly",
    "smiled",
    "door",
    "night",
    "sea",
    "wind",
    "rain",
    "lantern",
    "rope",
    "deck",
    "captain",
    "bread",
    "market",
    "song",
    "promise",
    "letter",
    "island",
    "fog",
    "bell",
]
#: The measurements, in the order they run.
PARTS = ("embedding", "replay", "recall", "quality")
CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {"name": "Bram", "description": "Bram keeps an inn.", "first_mes": "Welcome!"},
}


def rss_mib() -> float:
    """This process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sentence(rng: random.Random, n: int) -> str:
    """``n`` words of harbour talk."""
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def new_chat(context: AppContext, memory: bool) -> int:
    """A chat with Bram on the Short preset, memory on or off (each its own card, so
    neither chat's prompt reuses the other's cache)."""
    data = {**CARD["data"], "name": "Bram" if memory else "Brom"}  # type: ignore[dict-item]
    card = context.library.import_card(
        json.dumps({**CARD, "data": data}).encode(), source_name="bram.json"
    )
    chat = context.chat.new_chat(card.id)
    context.stores.chats.update_settings(chat.id, ChatSettings(preset="Short"))
    context.services.memory.save_settings(chat.id, MemorySettings(enabled=memory))
    return chat.id


def filled_chat(context: AppContext, n: int, rng: random.Random) -> int:
    """A stored chat of ``n`` messages of 150–600 characters."""
    chat_id = new_chat(context, True)
    chats = context.stores.chats
    parent = chats.active_path(chat_id)[-1].id
    for i in range(1, n):
        role, who = (Role.USER, "User") if i % 2 else (Role.ASSISTANT, "Bram")
        text = " ".join(sentence(rng, rng.randint(6, 12)) for _ in range(rng.randint(2, 8)))
        parent = chats.add_message(chat_id, parent, role=role, speaker=who, content=text).id
    return chat_id


def bench_embedding(context: AppContext, chat_id: int) -> dict[str, float]:
    memory = context.services.memory
    memory.index(chat_id)  # warm up: loads torch and the model, embeds all
    rebuilt = []
    for _ in range(5):  # this shared machine's speed varies by ±7% from run to run
        started = time.perf_counter()
        count = memory.rebuild(chat_id)
        rebuilt.append(count / (time.perf_counter() - started))
    return {
        "messages": 600,
        "messages_per_s": round(statistics.median(rebuilt), 1),
        "best_messages_per_s": round(max(rebuilt), 1),
    }


def bench_plain_encode(context: AppContext, chat_id: int, model_dir: Path) -> dict[str, float]:
    """The same chat's chunks embedded by sentence-transformers' own ``encode`` (float32,
    its default batch of 32, a second copy of the model loaded for it, on every core as
    an import's embedding runs): the machine's speed in the same run, for a ratio."""
    import torch

    from app.engine.embedder import import_sentence_transformer

    path = context.stores.chats.active_path(chat_id)
    texts = [chunk.text for m in path for chunk in chunks_of(m, digest_of(m))]
    model = import_sentence_transformer()(str(model_dir), device="cpu", local_files_only=True)
    torch.set_num_threads(os.cpu_count() or 2)
    model.encode(texts[:64])  # warm up
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        model.encode(texts, batch_size=32)
        rates.append(len(path) / (time.perf_counter() - started))
    return {"messages_per_s": round(statistics.median(rates), 1), "best": round(max(rates), 1)}


def embed_queries_of_every_length(context: AppContext, rng: random.Random) -> None:
    """Embed one text of each length from 1 to 150 words, as a long session's turn
    queries (each its new message) come: what torch keeps per input shape shows in RSS."""
    embedder = context.services.memory.index_of().embedder
    for n in range(1, 151):
        embedder.embed([sentence(rng, n)])


def bench_recall_query(context: AppContext, db_repo: MemoryRepository) -> dict[str, float]:
    chat_id = filled_chat(context, 10_000, random.Random(3))
    path = context.stores.chats.active_path(chat_id)
    rng = np.random.default_rng(0)
    chunks: dict[int, list[StoredChunk]] = {}
    for message in path:
        n = 1 + int(len(message.content) > 400)
        vectors = rng.normal(size=(n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks[message.id] = [
            StoredChunk(message.id, i, digest_of(message), message.content[:400], v.tobytes())
            for i, v in enumerate(vectors)
        ]
    db_repo.replace(chat_id, "all-MiniLM-L6-v2", 384, chunks)
    index = context.services.memory.index_of()
    eligible = [m.id for m in path[:-40]]
    started = time.perf_counter()
    index.search(chat_id, index.embedder.embed(["first"]), eligible, limit=5, threshold=0.0)
    first = time.perf_counter() - started
    times = []
    for i in range(30):
        started = time.perf_counter()
        # a turn's query: the new message embedded, the two before it held already
        query = index.embedder.embed([f"Where did the captain go on day {i}?"])
        held = index.query_vectors(chat_id, path[-2:])
        index.search(chat_id, np.concatenate([query, held]), eligible, limit=5, threshold=0.25)
        times.append(time.perf_counter() - started)
    n_chunks = sum(len(c) for c in chunks.values())
    return {
        "messages": len(path), "chunks": n_chunks,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(sorted(times)[int(len(times) * 0.95) - 1] * 1000, 1),
        "first_search_ms": round(first * 1000, 1),
    }  # fmt: skip


def first_token(context: AppContext, chat_id: int, text: str) -> float:
    """Seconds from the send to the first streamed text of the reply."""
    started = time.perf_counter()
    ttft = 0.0
    for _progress in context.chat.send(chat_id, text):
        if not ttft:
            ttft = time.perf_counter() - started
    return ttft


def bench_replay(context: AppContext, turns: int) -> dict[str, Any]:
    on, off = new_chat(context, True), new_chat(context, False)
    # The same sentence lengths in both chats, but not the same words: two chats sharing
    # user lines would let the engine reuse runs of one in the other.
    shape = random.Random(11)
    words = {"on": random.Random(12), "off": random.Random(13)}
    memory = context.services.memory
    times: dict[str, list[float]] = {"on": [], "off": []}
    evaluated: dict[str, list[int]] = {"on": [], "off": []}
    refreshed, last_block = [], ""
    background: list[float] = []
    for turn in range(turns):
        lengths = [shape.randint(8, 14) for _ in range(3)]
        order = [("on", on), ("off", off)] if turn % 2 == 0 else [("off", off), ("on", on)]
        for name, chat_id in order:
            text = " ".join(sentence(words[name], n) for n in lengths)
            times[name].append(first_token(context, chat_id, text))
            started = time.perf_counter()
            memory.wait_for_summaries(120)  # the user reads the reply and types
            context.prefill.wait_idle(120)
            if name == "on":
                background.append(time.perf_counter() - started)
            evaluated[name].append(
                context.stores.chats.active_path(chat_id)[-1].gen_info.tokens_evaluated or 0
            )
        block = memory.overview(on).block
        if block != last_block:
            refreshed.append(turn)
        last_block = block
    memory.wait_for_summaries(120)
    med_on, med_off = statistics.median(times["on"]), statistics.median(times["off"])
    summaries = [v for v in memory.summaries(on) if v.state == "current"]
    return {
        "turns": turns,
        "ttft_median_on_ms": round(med_on * 1000, 1),
        "ttft_median_off_ms": round(med_off * 1000, 1),
        "ratio": round(med_on / med_off, 3),
        "ttft_mean_on_ms": round(statistics.mean(times["on"]) * 1000, 1),
        "ttft_mean_off_ms": round(statistics.mean(times["off"]) * 1000, 1),
        "summaries_written": len(summaries),
        "memories_block_changed_turns": len(refreshed),
        "background_s": {
            "median": round(statistics.median(background), 2),
            "max": round(max(background), 2),
        },
        "per_turn": {
            "ttft_on_ms": [round(t * 1000) for t in times["on"]],
            "ttft_off_ms": [round(t * 1000) for t in times["off"]],
            "evaluated_on": evaluated["on"],
            "evaluated_off": evaluated["off"],
            "block_changed_at": refreshed,
        },
    }


def bench_quality(context: AppContext) -> dict[str, Any]:
    chat_id = long_chat(context)
    found, largest = 0, 0
    for _, _, question, answer in FACTS:
        prompt = context.chat.prompt(chat_id, extra_user_message=question)
        found += answer in prompt.text
        largest = max(largest, prompt.n_tokens)
    return {"facts_found": found, "of": len(FACTS), "largest_prompt_tokens": largest}


def main() -> int:
    """Run every measurement and print (and optionally write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"which measurements, of {','.join(PARTS)}"
    )
    args = parser.parse_args()
    model = bundled_model_path()
    assert model is not None
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home)
        (folder / "presets").mkdir()
        (folder / "presets" / "Short.yaml").write_text("name: Short\nmax_new_tokens: 16\n")
        import app.ui.app  # noqa: F401  (the process as `python launch.py` runs it)

        context = build_context(Settings.load(data_dir=folder), load_model=False)
        context.models.load(model, LoadOptions(n_ctx=2048, threads=2))
        results: dict[str, Any] = {"rss_before_embedder_mib": round(rss_mib(), 1)}
        context.services.memory.load_embedder()
        context.services.memory.index_of().embedder.embed(["a turn's query"])  # in use
        results["rss_after_embedder_mib"] = round(rss_mib(), 1)
        parts = args.parts.split(",")
        if "embedding" in parts:
            chat_id = filled_chat(context, 600, random.Random(5))
            results["embedding"] = bench_embedding(context, chat_id)
            results["rss_after_embedding_mib"] = round(rss_mib(), 1)
            embed_queries_of_every_length(context, random.Random(6))
            results["rss_after_queries_mib"] = round(rss_mib(), 1)
            plain = bench_plain_encode(context, chat_id, folder / "embedders" / MODEL_NAME)
            results["embedding"]["sentence_transformers_encode"] = plain
            ratio = results["embedding"]["messages_per_s"] / plain["messages_per_s"]
            results["embedding"]["ratio_to_encode"] = round(ratio, 2)
            print(json.dumps(results["embedding"]), flush=True)
        if "replay" in parts:
            results["replay"] = bench_replay(context, args.turns)
            print(json.dumps({k: v for k, v in results["replay"].items() if k != "per_turn"}))
        if "recall" in parts:
            results["recall_query"] = bench_recall_query(context, MemoryRepository(context.db))
            print(json.dumps(results["recall_query"]), flush=True)
        if "quality" in parts:
            results["quality"] = bench_quality(context)
        context.close()
    before = results["rss_before_embedder_mib"]
    results["rss_added_mib"] = round(results["rss_after_embedder_mib"] - before, 1)
    if "rss_after_embedding_mib" in results:
        added = results["rss_after_embedding_mib"] - before
        results["rss_added_after_embedding_mib"] = round(added, 1)
    if "rss_after_queries_mib" in results:
        added = results["rss_after_queries_mib"] - before
        results["rss_added_after_queries_mib"] = round(added, 1)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
