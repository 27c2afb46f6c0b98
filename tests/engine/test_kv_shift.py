"""KV reuse: the planner (pure) and context shift, swipes, abort and saved states (model)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import replace

import llama_cpp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.base import Finished, GenerationRequest, TextDelta
from app.engine.kvcache import Chunk, ReusePlan, plan_reuse
from app.engine.llamacpp import LlamaCppBackend, LoadOptions
from app.engine.models import bundled_model_path
from app.engine.sampling import SamplerSettings

GREEDY = SamplerSettings(temperature=0)


def seq(start: int, n: int) -> list[int]:
    return list(range(start, start + n))


# -- the planner -----------------------------------------------------------------------


def test_swipe_reuses_all_but_the_last_token() -> None:
    prompt = seq(0, 100)
    plan = plan_reuse([*prompt, 900, 901], prompt, can_shift=True)
    assert plan.chunks == (Chunk(0, 0, 99),)
    assert plan.evaluated == 1 and plan.gaps() == ((99, 100),) and not plan.shifted


def test_new_turn_keeps_the_prefix() -> None:
    cached = [*seq(0, 80), *seq(500, 10)]  # prompt + generated reply
    prompt = [*seq(0, 80), *seq(700, 40)]
    plan = plan_reuse(cached, prompt, can_shift=True)
    assert plan.reused == 80 and plan.gaps() == ((80, 120),)


def test_dropped_oldest_messages_are_shifted_out() -> None:
    story, old, kept, new = seq(0, 50), seq(100, 60), seq(200, 300), seq(600, 20)
    plan = plan_reuse([*story, *old, *kept], [*story, *kept, *new], can_shift=True)
    assert plan.chunks == (Chunk(0, 0, 50), Chunk(110, 50, 300))
    assert plan.leading() == plan.chunks and plan.parked() == ()
    assert plan.evaluated == 20 and plan.shifted


def test_moved_injection_parks_the_history_after_it() -> None:
    story, note, a, b, new = seq(0, 40), seq(1000, 10), seq(100, 80), seq(300, 90), seq(600, 25)
    cached = [*story, *note, *a, *b]
    prompt = [*story, *a, *note, *b, *new]
    plan = plan_reuse(cached, prompt, can_shift=True)
    assert plan.leading() == (Chunk(0, 0, 40), Chunk(50, 40, 80))
    assert plan.parked() == (Chunk(130, 130, 90),)
    assert plan.gaps() == ((120, 130), (220, 245))
    assert plan.evaluated == len(note) + len(new)


def test_without_shift_only_the_prefix_is_kept() -> None:
    story, old, kept, new = seq(0, 50), seq(100, 60), seq(200, 300), seq(600, 20)
    plan = plan_reuse([*story, *old, *kept], [*story, *kept, *new], can_shift=False)
    assert plan.chunks == (Chunk(0, 0, 50),) and plan.evaluated == 320


def test_short_coincidental_matches_are_evaluated() -> None:
    cached = [*seq(0, 20), *seq(100, 10), *seq(300, 50)]
    prompt = [*seq(0, 20), *seq(900, 30), *seq(100, 10), *seq(950, 5)]
    assert plan_reuse(cached, prompt, can_shift=True, min_chunk=16).reused == 20


def test_parked_chunks_are_bounded() -> None:
    parts = [seq(100 * i, 40) for i in range(1, 6)]
    cached = [t for p in parts for t in p]
    prompt = [t for i, p in enumerate(parts) for t in [5000 + i, *p]] + [9999]
    assert len(plan_reuse(cached, prompt, can_shift=True, max_parked=2).parked()) == 2
    assert len(plan_reuse(cached, prompt, can_shift=True, max_parked=5).parked()) == 5


@st.composite
def edited_chats(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """A cached sequence and a prompt made from shuffled, dropped and new segments."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    segments = [[rng.randrange(50) for _ in range(rng.randrange(1, 60))] for _ in range(8)]
    cached = [t for s in segments for t in s]
    kept = [s for s in segments if rng.random() < 0.7]
    if rng.random() < 0.5 and len(kept) > 2:
        i = rng.randrange(1, len(kept))
        kept.insert(i, [rng.randrange(50) for _ in range(rng.randrange(1, 20))])
    prompt = [t for s in kept for t in s] + [rng.randrange(50)]
    return cached, prompt


@settings(max_examples=150, deadline=None)
@given(edited_chats(), st.integers(1, 12), st.booleans())
def test_any_plan_is_consistent(chat: tuple[list[int], list[int]], k: int, shift: bool) -> None:
    cached, prompt = chat
    plan = plan_reuse(cached, prompt, can_shift=shift, min_chunk=k)
    assert plan.reused + plan.evaluated == len(prompt)
    src_at = dst_at = 0
    for chunk in plan.chunks:
        assert chunk.length > 0 and chunk.src >= src_at and chunk.dst >= dst_at
        src, dst = (
            slice(chunk.src, chunk.src + chunk.length),
            slice(chunk.dst, chunk.dst + chunk.length),
        )
        assert cached[src] == prompt[dst]
        src_at, dst_at = src.stop, dst.stop
    assert dst_at < len(prompt)  # the last token is always evaluated
    covered = sum(end - start for start, end in plan.gaps())
    assert covered == plan.evaluated
    assert plan.leading() + plan.parked() == plan.chunks
    assert shift or len(plan.chunks) <= 1


def test_plan_of_empty_prompt_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_reuse([1, 2], [], can_shift=True)
    assert ReusePlan(3).gaps() == ((0, 3),)


# -- with the model --------------------------------------------------------------------

_LEXICON = (
    "the lantern flickered as rain hammered the old tavern roof while she counted coins "
    "dragon north river sword whisper shadow bread ale window stranger laughed quietly "
    "map forest silver gate guard tomorrow journey cloak fire warm smiled door"
)
WORDS = tuple(_LEXICON.split())


def text(seed: int, n_words: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def turn(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


STORY = turn("system", "You are Mira, a tavern keeper in a rainy harbour town. " + text(1, 40))
REPLY = "<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    path = bundled_model_path()
    assert path is not None
    loaded = LlamaCppBackend.load(path, LoadOptions(n_ctx=512, threads=2))
    yield loaded
    loaded.close()


@pytest.fixture
def kv(backend: LlamaCppBackend) -> LlamaCppBackend:
    backend.kv.clear()
    return backend


def chat(first: int, last: int, seed: int = 0) -> list[str]:
    return [
        turn("user" if i % 2 == 0 else "assistant", text(seed * 1000 + i, 12 + 5 * (i % 3)))
        for i in range(first, last)
    ]


def run(backend: LlamaCppBackend, prompt: str, n: int = 6) -> tuple[str, Finished]:
    tokens = backend.tokenize(prompt)
    events = list(backend.stream(GenerationRequest(tokens, GREEDY, n)))
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == finished.text
    return finished.text, finished


def assert_consistent(backend: LlamaCppBackend, prompt_tokens: list[int]) -> None:
    """Sequence 0 holds exactly positions 0..n_tokens-1 and they start with the prompt."""
    llama = backend.llama
    mem = llama_cpp.llama_get_memory(llama.ctx)
    n = llama.n_tokens
    assert list(llama.input_ids[: len(prompt_tokens)]) == prompt_tokens
    assert llama_cpp.llama_memory_seq_pos_min(mem, 0) == 0
    assert llama_cpp.llama_memory_seq_pos_max(mem, 0) == n - 1
    for spare in range(1, llama_cpp.llama_n_seq_max(llama.ctx)):
        assert llama_cpp.llama_memory_seq_pos_max(mem, spare) == -1


@pytest.mark.model
def test_overflowing_chat_is_shifted_not_reprocessed(kv: LlamaCppBackend) -> None:
    assert kv.can_shift
    history = chat(0, 12)
    first = STORY + "".join(history[:-1]) + REPLY
    assert 300 < len(kv.tokenize(first)) < 500
    run(kv, first)
    # The oldest exchange is dropped, a new user message arrives.
    second = STORY + "".join(history[2:]) + REPLY
    second_tokens = kv.tokenize(second)
    new_tokens = len(kv.tokenize(history[-1] + REPLY))
    reply, done = run(kv, second)
    assert kv.last_load is not None and kv.last_load.shifted
    assert done.stats.tokens_evaluated <= new_tokens + 2
    assert done.stats.tokens_reused + done.stats.tokens_evaluated == len(second_tokens)
    assert_consistent(kv, second_tokens)
    assert reply.strip() and done.finish_reason in ("length", "stop")
    # A swipe right after the shift evaluates one token and repeats the greedy reply.
    again, swipe = run(kv, second)
    assert swipe.stats.tokens_evaluated == 1 and again == reply


@pytest.mark.model
def test_repeated_prompt_samples_from_the_kept_logits(
    kv: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kv.kv, "logits_min_tokens", 0)
    prompt = STORY + "".join(chat(0, 5, seed=13)) + REPLY
    tokens = kv.tokenize(prompt)
    sampler = SamplerSettings(temperature=1.1, seed=77)

    def sample() -> Finished:
        finished = list(kv.stream(GenerationRequest(tokens, sampler, 8)))[-1]
        assert isinstance(finished, Finished)
        return finished

    first = sample()
    swipe = sample()
    assert swipe.stats.tokens_evaluated == 0 and swipe.stats.tokens_reused == len(tokens)
    assert swipe.text == first.text
    assert_consistent(kv, tokens)
    kv.kv.clear()
    assert sample().text == first.text  # a cold run samples the same reply


@pytest.mark.model
def test_shifted_logits_stay_close_to_a_cold_run(kv: LlamaCppBackend) -> None:
    history = chat(0, 12, seed=3)
    run(kv, STORY + "".join(history[:-1]) + REPLY, n=1)
    prompt = STORY + "".join(history[2:]) + REPLY
    run(kv, prompt, n=0)
    assert kv.last_load is not None and kv.last_load.shifted
    shifted = top_tokens(kv)
    kv.kv.clear()
    run(kv, prompt, n=0)
    assert top_tokens(kv)[0] in shifted


def top_tokens(backend: LlamaCppBackend, k: int = 5) -> list[int]:
    pointer = backend.llama._ctx.get_logits()  # type: ignore[no-untyped-call]
    logits = np.ctypeslib.as_array(pointer, shape=(backend.info.n_vocab,))
    return [int(t) for t in np.argsort(logits)[::-1][:k]]


@pytest.mark.model
def test_moved_author_note_reuses_history_on_both_sides(kv: LlamaCppBackend) -> None:
    history = chat(0, 9, seed=5)
    note = turn("system", "[Author's note: it is raining harder now.]")
    first = STORY + "".join(history[:3]) + note + "".join(history[3:7]) + REPLY
    run(kv, first)
    second = STORY + "".join(history[:5]) + note + "".join(history[5:9]) + REPLY
    second_tokens = kv.tokenize(second)
    _, done = run(kv, second)
    expected = len(kv.tokenize(note + "".join(history[7:9]) + REPLY))
    assert done.stats.tokens_evaluated <= expected + 2
    assert_consistent(kv, second_tokens)


@pytest.mark.model
def test_without_shift_the_prompt_is_evaluated_after_the_prefix(kv: LlamaCppBackend) -> None:
    history = chat(0, 10, seed=7)
    first = STORY + "".join(history[:-1]) + REPLY
    second = STORY + "".join(history[2:]) + REPLY
    kv.kv.can_shift = False
    try:
        run(kv, first)
        reply, done = run(kv, second)
    finally:
        kv.kv.can_shift = True
    second_tokens = kv.tokenize(second)
    prefix = len(kv.tokenize(STORY))
    assert prefix <= done.stats.tokens_reused <= prefix + 3
    assert_consistent(kv, second_tokens)
    kv.kv.clear()
    cold, _ = run(kv, second)
    assert reply == cold


@pytest.mark.model
def test_cache_that_cannot_truncate_restarts_swipes_from_a_checkpoint(
    kv: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rm = llama_cpp.llama_memory_seq_rm

    def whole_sequences_only(mem: object, seq_id: int, p0: int, p1: int) -> bool:
        if p0 > 0:  # what a recurrent model answers to a partial removal
            return False
        return bool(real_rm(mem, seq_id, p0, p1))

    monkeypatch.setattr(llama_cpp, "llama_memory_seq_rm", whole_sequences_only)
    monkeypatch.setattr(kv.kv, "_checkpoints", True)
    prompt = STORY + "".join(chat(0, 5, seed=9)) + REPLY
    first, done = run(kv, prompt)
    assert done.stats.tokens_evaluated == len(kv.tokenize(prompt))
    second, swipe = run(kv, prompt)
    assert kv.last_load is not None and kv.last_load.restored
    assert swipe.stats.tokens_evaluated == 1 and second == first


@pytest.mark.model
def test_abort_while_a_chunk_is_parked_leaves_a_consistent_cache(kv: LlamaCppBackend) -> None:
    history = chat(0, 9, seed=11)
    note = turn("system", "[Author's note: " + text(12, 60) + "]")
    run(kv, STORY + "".join(history[:3]) + note + "".join(history[3:7]) + REPLY)
    second = STORY + "".join(history[:5]) + note + "".join(history[5:9]) + REPLY
    second_tokens = kv.tokenize(second)
    assert len(kv.kv.plan(second_tokens).parked()) == 1
    llama = kv.llama
    real_eval = llama.eval
    calls = 0

    def abort_on_third_eval(tokens: Sequence[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # 1: the disarmed K-shift token, 2: rest of the note; 3: new tail
            kv.abort()
        real_eval(tokens)

    llama.eval = abort_on_third_eval  # type: ignore[method-assign]
    try:
        events = list(kv.stream(GenerationRequest(second_tokens, GREEDY, 4)))
    finally:
        del llama.eval
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.finish_reason == "aborted"
    assert finished.stats.completion_tokens == 0
    n = llama.n_tokens
    assert 0 < n < len(second_tokens)
    assert_consistent(kv, second_tokens[:n])
    _, done = run(kv, second)
    assert done.stats.tokens_reused >= n - 1
    assert_consistent(kv, second_tokens)


@pytest.mark.model
def test_switching_back_to_a_chat_restores_its_saved_state(kv: LlamaCppBackend) -> None:
    chat_a = STORY + "".join(chat(0, 11, seed=21)) + REPLY
    chat_b = STORY + "".join(chat(0, 11, seed=22)) + REPLY
    run(kv, chat_a)
    _, switched = run(kv, chat_b)
    assert kv.kv.saved_states >= 1
    assert switched.stats.tokens_reused < len(kv.tokenize(STORY)) + 5
    _, back = run(kv, chat_a)
    assert kv.last_load is not None and kv.last_load.restored
    assert back.stats.tokens_evaluated == 1
    assert_consistent(kv, kv.tokenize(chat_a))


@pytest.fixture
def fresh() -> Iterator[LlamaCppBackend]:
    """A backend with no saved states (the module's keeps those of earlier tests)."""
    path = bundled_model_path()
    assert path is not None
    loaded = LlamaCppBackend.load(path, LoadOptions(n_ctx=512, threads=2, saved_states=3))
    yield loaded
    loaded.close()


@pytest.mark.model
def test_young_chats_used_in_turns_keep_their_states(fresh: LlamaCppBackend) -> None:
    chat_a = STORY + "".join(chat(0, 3, seed=31)) + REPLY
    chat_b = STORY + "".join(chat(0, 3, seed=32)) + REPLY
    assert len(fresh.tokenize(chat_a)) < 256  # under the size always worth a saved state
    run(fresh, chat_a)
    run(fresh, chat_b)
    _, back = run(fresh, chat_a)
    assert fresh.last_load is not None and fresh.last_load.restored
    assert back.stats.tokens_evaluated == 1
    _, back = run(fresh, chat_b)
    assert fresh.last_load is not None and fresh.last_load.restored
    assert back.stats.tokens_evaluated == 1
    assert_consistent(fresh, fresh.tokenize(chat_b))


@pytest.mark.model
def test_a_young_chats_state_never_pushes_out_another(fresh: LlamaCppBackend) -> None:
    long_chats = [STORY + "".join(chat(0, 11, seed=60 + i)) + REPLY for i in range(3)]
    young = [STORY + "".join(chat(0, 3, seed=70 + i)) + REPLY for i in range(2)]
    assert all(len(fresh.tokenize(c)) >= 256 for c in long_chats)
    for prompt in [*long_chats, *young]:
        run(fresh, prompt)
    assert fresh.kv.saved_states == 3  # the long chats'; the first young one found no room
    for prompt in long_chats:
        _, back = run(fresh, prompt)
        assert fresh.last_load is not None and fresh.last_load.restored
        assert back.stats.tokens_evaluated == 1


@pytest.mark.model
def test_a_chat_displaced_by_a_summary_comes_back_even_over_the_saved_states_cap() -> None:
    path = bundled_model_path()
    assert path is not None
    backend = LlamaCppBackend.load(path, LoadOptions(n_ctx=512, threads=2, saved_states_mb=1))
    try:
        story = STORY + "".join(chat(0, 11, seed=80)) + REPLY
        run(backend, story)
        assert backend.kv.saved_states_bytes == 0
        summary = backend.tokenize(turn("user", "Summarize: " + text(81, 60)) + REPLY)
        one_off = GenerationRequest(summary, GREEDY, 6, keep_cache=False)
        assert isinstance(list(backend.stream(one_off))[-1], Finished)
        assert backend.kv.saved_states_bytes > 1 << 20  # the chat's state, over the cap
        _, back = run(backend, story)
        assert backend.last_load is not None and backend.last_load.restored
        assert back.stats.tokens_evaluated == 1
        assert backend.kv.saved_states_bytes == 0  # restored: the copy is freed
    finally:
        backend.close()


def run_keyed(backend: LlamaCppBackend, prompt: str, key: str, slots: int) -> Finished:
    request = GenerationRequest(backend.tokenize(prompt), GREEDY, 6)
    events = list(backend.stream(replace(request, cache_key=key, cache_slots=slots)))
    finished = events[-1]
    assert isinstance(finished, Finished)
    return finished


@pytest.mark.model
def test_a_request_outside_a_large_group_leaves_every_members_slot(kv: LlamaCppBackend) -> None:
    members = [STORY + "".join(chat(0, 3, seed=40 + i)) + REPLY for i in range(5)]
    for index, prompt in enumerate(members):
        run_keyed(kv, prompt, f"group:{index}", slots=5)
    run(kv, STORY + "".join(chat(0, 3, seed=50)) + REPLY)  # a one-to-one chat meanwhile
    for index, prompt in enumerate(members):
        back = run_keyed(kv, prompt, f"group:{index}", slots=5)
        assert kv.last_load is not None and kv.last_load.restored, index
        assert back.stats.tokens_evaluated == 1
