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


def test_client_mode_replays_through_parlors_own_server() -> None:
    """``--client``: SillyTavern's llama.cpp requests to ``parlor serve``'s /completion;
    the swipe reuses the whole prompt and the next turn its cached part."""
    run = subprocess.run(
        [sys.executable, "bench/long_chat.py", "--client", "--turns", "3", "--json",
         "--systems", "parlor_server"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    server = json.loads(run.stdout.strip().splitlines()[-1])["parlor_server"]
    turns = server["turns"]
    assert server.keys() >= REQUIRED
    assert [t["kind"] for t in turns] == ["new", "swipe", "new"]
    assert server["generated_tokens"] == 3 * 48  # ignore_eos reached /completion
    assert turns[0]["evaluated"] == turns[0]["prompt_tokens"] > 0
    assert turns[1]["evaluated"] <= 1
    assert 0 < turns[2]["evaluated"] < turns[2]["prompt_tokens"]
