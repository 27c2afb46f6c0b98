"""The long-chat benchmark still runs and reports what issue 9 asks for (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]

REQUIRED = {"total_s", "prompt_tokens_evaluated", "ttft_p50_s", "decode_tps", "peak_rss_mb"}


def test_three_turns_against_plain_llama_cpp_python() -> None:
    """Turn 0 is new, turn 1 a swipe, turn 2 new; both systems reuse the cached prompt."""
    run = subprocess.run(
        [sys.executable, "bench/long_chat.py", "--turns", "3", "--json",
         "--systems", "parlor,llama_cpp_python"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    parlor, plain = report["parlor"], report["llama_cpp_python"]
    assert parlor.keys() >= REQUIRED and plain.keys() >= REQUIRED
    assert [t["kind"] for t in parlor["turns"]] == ["new", "swipe", "new"]
    assert parlor["prompt_tokens"] == plain["prompt_tokens"]
    assert parlor["generated_tokens"] == plain["generated_tokens"] == 3 * 48
    assert parlor["turns"][0]["evaluated"] == parlor["turns"][0]["prompt_tokens"]
    assert parlor["turns"][1]["evaluated"] <= 1 and plain["turns"][1]["evaluated"] <= 1
    assert parlor["turns"][2]["evaluated"] < parlor["turns"][2]["prompt_tokens"]
    assert parlor["prompt_tokens_evaluated"] <= plain["prompt_tokens_evaluated"]
    assert len(parlor["stop_latency_s"]) == 4
    assert set(report["ratios"]) >= {"total_vs_llama_cpp_python", "decode_tps_vs_llama_cpp_python"}
