"""The group-chat benchmark still runs and reports what issue 16 asks for (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]

REQUIRED = {
    "total_s", "prompt_tokens_evaluated", "ttft_speaker_change_p50_s", "slots_ram_mb",
    "peak_rss_mb", "turns",
}  # fmt: skip


def test_four_member_turns_through_parlor_with_a_slot_per_member() -> None:
    """Turns 0-2: each member's first turn; turn 3: Mira again, whose slot still holds
    her first prompt, so only what came after it is evaluated."""
    run = subprocess.run(
        [sys.executable, "bench/group_chat.py", "--turns", "4", "--json", "--systems", "parlor",
         "--max-tokens", "8"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    parlor = report["parlor"]
    assert parlor.keys() >= REQUIRED
    turns = parlor["turns"]
    assert [t["speaker"] for t in turns] == ["Mira", "Teodor", "Ilse", "Mira"]
    assert turns[0]["evaluated"] == turns[0]["prompt_tokens"]
    first, again = turns[0], turns[3]
    assert again["evaluated"] <= again["prompt_tokens"] - first["prompt_tokens"]
    assert parlor["slots_ram_mb"] > 0
