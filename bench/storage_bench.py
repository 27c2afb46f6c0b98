"""Storage benchmark: append a message, open a long chat, search many messages.

Run ``python bench/storage_bench.py`` (``--json out.json`` also writes the figures).
Everything happens in a temporary SQLite file through the public repositories; chats are
built with ``import_st_chat`` so they look like real imported chats (swipes, extra).

Targets on the 2-core reference machine: append <= 5 ms, active path of a 10,000-message
chat <= 200 ms, FTS search over 100,000 messages <= 50 ms (medians).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.chatfile import STChat, STMessage
from app.storage import Database, open_database
from app.storage.repositories import CharacterRepository, ChatRepository
from app.storage.repositories._search import fts_query
from app.storage.st_chats import import_st_chat
from app.storage.types import Role


@dataclass
class Result:
    """One measured operation."""

    name: str
    target_ms: float | None
    median_ms: float
    p95_ms: float
    runs: int
    #: Median CPU time of this process: what the operation costs without other load.
    cpu_ms: float

    @property
    def ok(self) -> bool | None:
        """Whether the median meets the target (None when there is no target)."""
        return None if self.target_ms is None else self.median_ms <= self.target_ms


def measure(name: str, target_ms: float | None, runs: int, action: Callable[[], object]) -> Result:
    """Run ``action`` ``runs`` times and summarise the wall-clock times."""
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        action()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return Result(name, target_ms, statistics.median(times), p95, runs, statistics.median(cpu))


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Pronounceable made-up words, most common first."""
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(1, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
    return sorted(words, key=lambda word: (len(word), word))


def synthetic_chat(rng: random.Random, words: list[str], count: int, start: datetime) -> STChat:
    """A chat of ``count`` messages; every reply has two swipes and a model in ``extra``."""
    weights = [1 / (rank + 1) for rank in range(len(words))]
    messages = []
    for i in range(count):
        text = " ".join(rng.choices(words, weights, k=rng.randint(15, 70)))
        when = start + timedelta(seconds=30 * i)
        if i % 2:
            alt = " ".join(rng.choices(words, weights, k=20))
            messages.append(
                STMessage.create(
                    name="Seraphina",
                    mes=text,
                    is_user=False,
                    send_date=when,
                    extra={"api": "llamacpp", "model": "bench.gguf"},
                    swipes=[text, alt],
                    swipe_id=0,
                    swipe_info=[{"send_date": when.isoformat(), "extra": {}}] * 2,
                )
            )
        else:
            messages.append(STMessage.create(name="User", mes=text, is_user=True, send_date=when))
    return STChat(
        header=STChat.new_header({"integrity": f"bench-{count}"}), messages=tuple(messages)
    )


def bench_append(chats: ChatRepository, runs: int) -> Result:
    """One user message appended and committed, in a chat that already has 1,000."""
    chat = chats.create_chat([], greetings=["Welcome."])
    leaf = chats.active_path(chat.id)[-1].id
    for i in range(1000):
        leaf = chats.add_message(chat.id, leaf, role=Role.USER, speaker="me", content=f"m{i}").id
    state = {"leaf": leaf}

    def append() -> None:
        message = chats.add_message(
            chat.id,
            state["leaf"],
            role=Role.USER,
            speaker="me",
            content="A new line of dialogue, about as long as a typical user message.",
        )
        state["leaf"] = message.id

    return measure("append a message (commit)", 5.0, runs, append)


def build_corpus(
    db: Database, character_id: int, words: list[str], rows: int, per_chat: int
) -> list[int]:
    """Import chats of ``per_chat`` messages until they hold ``rows`` message rows.

    A synthetic chat of ``n`` messages has ``n + n // 2`` rows (each reply has 2 swipes).
    """
    rng = random.Random(7)
    chat_ids: list[int] = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    while rows > 0:
        count = min(per_chat, (2 * rows + 2) // 3)
        parsed = synthetic_chat(rng, words, count, start + timedelta(days=len(chat_ids)))
        chat_ids.append(import_st_chat(db, parsed, character_id, title=f"chat {count}").id)
        rows -= count + count // 2
    return chat_ids


def run(quick: bool) -> list[Result]:
    """Build the data sets in a temporary folder and measure every operation."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(Path(folder) / "bench.db")
        db.migrate()
        chats = ChatRepository(db)
        sera = CharacterRepository(db).create("Seraphina", {"name": "Seraphina"}).id
        results.append(bench_append(chats, 200 if quick else 500))

        rng = random.Random(3)
        long_chat = synthetic_chat(
            rng, vocabulary(rng, 3000), 10_000, datetime(2025, 1, 1, tzinfo=UTC)
        )
        start, start_cpu = time.perf_counter(), time.process_time()
        chat_id = import_st_chat(db, long_chat, sera, title="long").id
        import_ms = (time.perf_counter() - start) * 1000
        cpu_ms = (time.process_time() - start_cpu) * 1000
        results.append(
            Result("import a 10,000-message ST chat", None, import_ms, import_ms, 1, cpu_ms)
        )
        assert len(chats.active_path(chat_id)) == 10_000
        results.append(
            measure(
                "open a 10,000-message chat (active path)",
                200.0,
                5 if quick else 9,
                lambda: chats.active_path(chat_id),
            )
        )

        total = 30_000 if quick else 100_000
        words = vocabulary(random.Random(11), 6000)
        have = chats.count_messages(chat_id) + 1001  # the long chat and the append chat
        ids = [*build_corpus(db, sera, words, total - have, 2_000), chat_id]
        results.extend(bench_search(db, chats, ids, sera, words))
        db.close()
    return results


def hit_count(db: Database, query: str) -> int:
    """How many messages match ``query`` (as the repository builds the FTS5 query)."""
    match = fts_query(query)
    with db.engine.connect() as conn:
        sql = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?"
        return int(conn.exec_driver_sql(sql, (match,)).scalar() or 0)


def bench_search(
    db: Database, chats: ChatRepository, chat_ids: list[int], sera: int, words: list[str]
) -> list[Result]:
    """Search for words of different frequencies, with and without filters."""
    with db.engine.connect() as conn:
        rows = int(conn.exec_driver_sql("SELECT count(*) FROM messages").scalar() or 0)
    # Ranks in the Zipf-like vocabulary: very common, medium, rare, and two words.
    common, medium, rare = words[20], words[300], words[4000]
    cases: list[tuple[str, Callable[[], object]]] = []
    for query in (common, medium, rare, f"{words[60]} {words[400]}"):
        label = f"search {query!r} ({hit_count(db, query):,} hits)"
        cases.append((label, functools.partial(chats.search, query)))
    for query in (common, medium):
        label = f"search {query!r}, best match first"
        cases.append((label, functools.partial(chats.search, query, order="relevance")))
    cases.append(
        (
            f"search {medium!r} in one chat",
            functools.partial(chats.search, medium, chat_id=chat_ids[0]),
        )
    )
    cases.append(
        (
            f"search {medium!r} for one character",
            functools.partial(chats.search, medium, character_id=sera),
        )
    )
    # Best-match-first is an option, not the default: no target (it scores every hit).
    return [
        measure(f"{label}, {rows:,} rows", None if "best" in label else 50.0, 9, action)
        for label, action in cases
    ]


def print_table(results: list[Result]) -> None:
    """Print the results as an aligned text table."""
    width = max(len(r.name) for r in results)
    print(f"{'operation':<{width}}  {'target':>8}  {'median':>9}  {'p95':>9}  {'cpu':>9}  runs  ok")
    for r in results:
        target = f"{r.target_ms:.0f} ms" if r.target_ms is not None else "-"
        ok = "-" if r.ok is None else ("yes" if r.ok else "NO")
        print(
            f"{r.name:<{width}}  {target:>8}  {r.median_ms:>6.1f} ms  {r.p95_ms:>6.1f} ms"
            f"  {r.cpu_ms:>6.1f} ms  {r.runs:>4}  {ok}"
        )
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> int:
    """Parse arguments, run, print and optionally write JSON; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--quick", action="store_true", help="smaller data (20,000 rows)")
    args = parser.parse_args()
    results = run(args.quick)
    print_table(results)
    if args.json:
        payload = {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "results": [{**asdict(r), "ok": r.ok} for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0 if all(r.ok is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
