"""The backend's KV cache as one sequence that each request refills as cheaply as it can.

:class:`KvSlot` owns sequence 0 of a llama.cpp context plus a few spare sequence ids.
:meth:`KvSlot.load` makes the cache hold a new prompt:

1. plan with :func:`app.engine.kvcache.plan_reuse` against what the cache holds (and
   against the saved states of recently used chats, restoring one if it saves enough);
2. edit the cache: remove what the prompt no longer has, shift leading chunks left
   (``llama_memory_seq_rm`` + ``llama_memory_seq_add``: context shift), and *park* each
   chunk that follows a gap in a spare sequence, already moved to its new positions;
3. evaluate the gaps in order with the abort callback armed, moving each parked chunk
   back into sequence 0 (``llama_memory_seq_cp``) once the gap before it is evaluated —
   llama.cpp requires a sequence's positions to grow by one from batch to batch.

The first decode after a shift runs disarmed: it applies the K-shift to the cache, and
an abort in the middle of that would leave some layers rotated and others not.  An
abort anywhere else drops the spare sequences and the unfinished batch, so what is left
is a consistent prefix of the prompt, and ``llama.input_ids[:n_tokens]`` says which.

Caches that cannot shift (recurrent, hybrid, SWA and M-RoPE models) reuse only the
common prefix; where even a partial removal is impossible, a checkpoint saved just
before the prompt's last token lets a swipe restart from there.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp import _internals

from app.engine.kvcache import MAX_PARKED, MIN_CHUNK, Chunk, ReusePlan, plan_reuse

#: Prompts this long keep the last token's logits for a swipe (see ``KvSlot``).
LOGITS_MIN_TOKENS = 1024
#: Sequence ids a context needs: 0 for the chat, the rest for parked chunks.
N_SEQ_MAX = 1 + MAX_PARKED
#: Discarding fewer cached tokens than this never saves the cache's state (a context
#: shift drops the head, a turn drops a short tail; a chat or branch switch drops more,
#: even when the other chat shares runs of text that are moved rather than evaluated).
SAVE_MIN_TOKENS = 256
#: A shorter cache is saved when a prompt discards at least half of it and this many
#: tokens, but only into a free place: it never pushes out another chat's state.  (Two
#: young chats used in turns otherwise evaluated their whole prompts at every switch:
#: up to 255 tokens, about a second on two CPU cores, against a copy of a few MB.)
SPARE_SAVE_MIN_TOKENS = 32
#: A saved state is restored when it spares at least this many evaluated tokens, or half
#: of a shorter prompt.
RESTORE_MIN_GAIN = 256

_Tokens = npt.NDArray[np.int64]


def open_context(llama: llama_cpp.Llama) -> None:
    """Recreate ``llama``'s context with spare sequence ids and a unified KV cache.

    ``Llama`` offers no ``n_seq_max``; the old context is freed first, so memory never
    holds two.  Models whose memory cannot shift keep their context unchanged.
    """
    model = llama._model.model
    if llama._is_recurrent or llama._is_hybrid or llama_cpp.llama_model_n_swa(model) > 0:
        return
    params = llama.context_params
    params.n_seq_max = N_SEQ_MAX
    params.kv_unified = True
    llama._ctx.close()  # type: ignore[no-untyped-call]
    context = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
    llama._ctx = llama._stack.enter_context(contextlib.closing(context))


@dataclass(frozen=True)
class LoadResult:
    """What :meth:`KvSlot.load` did: tokens reused and evaluated, and whether it finished."""

    reused: int
    evaluated: int
    complete: bool
    shifted: bool = False
    restored: bool = False
    #: The last prompt token's logits, kept from the request that evaluated it: sample
    #: the first token from these (nothing was evaluated), not from the context.
    logits: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True)
class _SavedState:
    tokens: _Tokens
    data: ctypes.Array[ctypes.c_uint8]
    #: The conversation it belongs to (a group member's turns), None: found by content.
    key: str | None = None

    @property
    def nbytes(self) -> int:
        return len(self.data)


class _StateStore:
    """Saved sequence states of recently used chats, least recently used out first."""

    def __init__(self, max_entries: int, capacity_bytes: int) -> None:
        self.max_entries = max_entries
        self.capacity_bytes = capacity_bytes
        self._entries: OrderedDict[int, _SavedState] = OrderedDict()
        self._next_key = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._entries.values())

    def put(self, state: _SavedState, *, over_cap: bool = False) -> None:
        """Keep ``state``, dropping the oldest states until all fit (``over_cap``: it is
        kept beside the others, even where it alone is over the cap; the next state put
        drops such a state before any other)."""
        for key, old in list(self._entries.items()):
            same_key = state.key is not None and old.key == state.key
            if same_key or (
                len(old.tokens) <= len(state.tokens)
                and np.array_equal(old.tokens, state.tokens[: len(old.tokens)])
            ):
                del self._entries[key]  # superseded by a longer state of the same chat
        for key in [k for k, old in self._entries.items() if old.nbytes > self.capacity_bytes]:
            del self._entries[key]  # kept over the cap only while a one-off ran
        self._entries[self._next_key] = state
        self._next_key += 1
        while not over_cap and self._over():
            self._entries.popitem(last=False)

    def _over(self) -> bool:
        return len(self._entries) > self.max_entries or self.nbytes > self.capacity_bytes

    def has_room(self, nbytes: int) -> bool:
        """Whether a state of ``nbytes`` fits beside the others (none is dropped)."""
        fits = self.nbytes + nbytes <= self.capacity_bytes
        return len(self._entries) < self.max_entries and fits

    def items(self) -> list[tuple[int, _SavedState]]:
        return list(self._entries.items())

    def pop(self, key: int) -> _SavedState:
        return self._entries.pop(key)


class KvSlot:
    """Sequence 0 of ``llama``'s context: what it holds and how to make it hold a prompt."""

    def __init__(
        self,
        llama: llama_cpp.Llama,
        arm_abort: Callable[[bool], None],
        aborted: Callable[[], bool],
        *,
        min_chunk: int = MIN_CHUNK,
        reuse_after_insertions: bool = True,
        logits_min_tokens: int = LOGITS_MIN_TOKENS,
        max_states: int = 3,
        state_capacity_bytes: int = 512 << 20,
    ) -> None:
        self._llama = llama
        self._arm_abort = arm_abort
        self._aborted = aborted
        self._mem = llama_cpp.llama_get_memory(llama.ctx)
        model = llama._model.model
        self._n_swa = int(llama_cpp.llama_model_n_swa(model))
        self._n_spare = int(llama_cpp.llama_n_seq_max(llama.ctx)) - 1
        self.can_shift = bool(
            self._mem is not None
            and self._n_swa == 0
            and llama_cpp.llama_memory_can_shift(self._mem)
        )
        self._checkpoints = bool(llama._is_recurrent or llama._is_hybrid)
        self.min_chunk = min_chunk
        #: Prompts at least this long keep their last token's logits, so that repeating
        #: the prompt (swipe, regenerate) evaluates nothing; shorter ones evaluate it again.
        self.logits_min_tokens = logits_min_tokens
        self._logits: tuple[int, npt.NDArray[np.float32]] | None = None
        #: Chunks that follow new or changed text may be reused (parked) too; without
        #: this only the prefix and chunks after removed text are (a plain context shift).
        self.max_parked = self._n_spare if reuse_after_insertions else 0
        self._states = _StateStore(max_states, state_capacity_bytes)
        self._min_states = max_states
        #: The key of the conversation the cache holds (see :meth:`load`).
        self._key: str | None = None
        #: Whether what the cache holds is worth saving when displaced (not a one-off).
        self._worth_saving = True

    # -- what the cache holds ---------------------------------------------------------

    @property
    def tokens(self) -> _Tokens:
        """The tokens sequence 0 holds, in order (a copy)."""
        return np.array(self._llama.input_ids[: self._llama.n_tokens], dtype=np.int64)

    @property
    def saved_states(self) -> int:
        """How many chats' states are saved."""
        return len(self._states)

    @property
    def saved_states_bytes(self) -> int:
        """The RAM the saved states take (the other chats' and group members' slots)."""
        return self._states.nbytes

    def keep_states(self, count: int) -> None:
        """Keep at least ``count`` saved states (a group's members), never fewer than the
        configured number.  It never shrinks: a request outside the group (a one-to-one
        chat, an API call) must not cost the group its members' slots; the memory cap
        (``state_capacity_bytes``) is what bounds them."""
        self._states.max_entries = max(self._states.max_entries, self._min_states, count)

    def plan(self, prompt: Sequence[int] | _Tokens) -> ReusePlan:
        """How ``prompt`` would reuse what the cache holds now."""
        return plan_reuse(
            self._llama.input_ids[: self._llama.n_tokens],
            prompt,
            can_shift=self.can_shift,
            min_chunk=self.min_chunk,
            max_parked=self.max_parked,
        )

    def clear(self) -> None:
        """Empty the cache (saved states are kept)."""
        self._llama.reset()  # type: ignore[no-untyped-call]
        self._llama._ctx.kv_cache_clear()  # type: ignore[no-untyped-call]
        self._logits = None

    # -- loading a prompt -----------------------------------------------------------

    def load(
        self, prompt: Sequence[int], key: str | None = None, *, keep: bool = True
    ) -> LoadResult:
        """Make the cache hold ``prompt``; ``complete`` is False if it was aborted.

        ``key`` names the conversation the prompt continues (a group member's turns in a
        chat): when it changes, the cache is saved under the old key and the new key's
        saved state, if any, is restored, so each member's turn evaluates only what is
        new since that member's last turn.  ``keep`` False: a one-off prompt (a
        background summary) that takes no saved state and is itself never saved.
        """
        tokens = np.asarray(prompt, dtype=np.int64)
        repeated = self._repeat(tokens) if key == self._key else None
        if repeated is not None:
            return repeated
        self._logits = None
        self._drop_spares()
        plan = self.plan(tokens)
        chosen = self._maybe_swap_state(tokens, plan, key, keep)
        restored = chosen is not None
        self._key, self._worth_saving = key, keep
        if restored:
            plan = self.plan(tokens)
        if not self._edit(plan, tokens):
            restored = self._restore_checkpoint(tokens) if self._checkpoints else False
            plan = self.plan(tokens) if restored else ReusePlan(len(tokens))
            if not restored or not self._edit(plan, tokens):
                self.clear()
                plan = ReusePlan(len(tokens))
        evaluated, complete = self._fill(plan, tokens)
        if chosen is not None and not complete:
            # Cut short (a fill ahead of a turn, giving way): what the cache holds now
            # is a part of it, so the state it started from is kept for the next load,
            # and this part is not saved over it.
            self._states.put(chosen)
            self._worth_saving = False
        return LoadResult(plan.reused, evaluated, complete, plan.shifted, restored)

    def _repeat(self, tokens: _Tokens) -> LoadResult | None:
        """The prompt evaluated last, again: drop the reply, keep the logits we saved."""
        llama, saved = self._llama, self._logits
        n = len(tokens)
        if saved is None or saved[0] != n or llama.n_tokens < n:
            return None
        if not np.array_equal(llama.input_ids[:n], tokens):
            return None
        if llama.n_tokens > n and not llama_cpp.llama_memory_seq_rm(self._mem, 0, n, -1):
            return None
        llama.n_tokens = n
        return LoadResult(n, 0, True, logits=saved[1])

    def _maybe_swap_state(
        self, tokens: _Tokens, live: ReusePlan, key: str | None, keep: bool
    ) -> _SavedState | None:
        """Save the live state if this prompt discards much of it (or belongs to another
        key); restore a better one (the new key's own, else one that spares enough),
        unless this prompt is a one-off (``keep`` False).  The state restored, if any."""
        if self._states.capacity_bytes <= 0 or self._states.max_entries <= 0:
            return None
        switching = key != self._key
        best = self._keyed_state(tokens, live, key) if keep and switching and key else None
        if best is None and keep:
            best = self._best_state(tokens, live)
        chosen = self._states.pop(best) if best is not None else None
        n_cached = self._llama.n_tokens
        keyed_switch = switching and self._key is not None and n_cached > 0
        displaced = n_cached - live.reused
        if self._worth_saving and not keep:
            self.save_state(over_cap=True)  # a summary displaces it: it comes back next
        elif self._worth_saving and (
            keyed_switch or displaced >= max(SAVE_MIN_TOKENS, n_cached // 4)
        ):
            self.save_state()  # another chat, branch or member: this comes back
        elif self._worth_saving and displaced >= max(SPARE_SAVE_MIN_TOKENS, n_cached // 2):
            self.save_state(evicting=False)  # a young chat's: cheap to keep, if there is room
        return chosen if chosen is not None and self._restore(chosen) else None

    def _keyed_state(self, tokens: _Tokens, live: ReusePlan, key: str) -> int | None:
        """The saved state of ``key``, if it holds more of ``tokens`` than the cache."""
        for index, state in self._states.items():
            if state.key != key:
                continue
            plan = plan_reuse(
                state.tokens, tokens, can_shift=self.can_shift,
                min_chunk=self.min_chunk, max_parked=self.max_parked,
            )  # fmt: skip
            if plan.reused > live.reused and (self.can_shift or plan.reused == len(state.tokens)):
                return index
        return None

    def _best_state(self, tokens: _Tokens, live: ReusePlan) -> int | None:
        """The saved state that spares at least ``RESTORE_MIN_GAIN`` evaluated tokens (or
        half of a shorter prompt)."""
        best: int | None = None
        best_reused = live.reused + max(1, min(RESTORE_MIN_GAIN, len(tokens) // 2))
        for key, state in self._states.items():
            plan = plan_reuse(
                state.tokens,
                tokens,
                can_shift=self.can_shift,
                min_chunk=self.min_chunk,
                max_parked=self.max_parked,
            )
            if plan.reused >= best_reused and (self.can_shift or plan.reused == len(state.tokens)):
                best, best_reused = key, plan.reused
        return best

    def save_state(self, *, evicting: bool = True, over_cap: bool = False) -> bool:
        """Save sequence 0 (tokens and KV) into the recently-used store, if it fits
        (``evicting`` False: only if no saved state has to make room for it).

        ``over_cap``: the chat's cache is displaced by a one-off prompt (a summary) and
        is restored right after it, so it is kept even where the store's cap is smaller
        than a whole context's state (a big model's: an 8B model's 8k context is 1 GiB),
        rather than evaluated again; it costs a second copy of the cache for that while.
        """
        ctx = self._llama.ctx
        n_cached = self._llama.n_tokens
        if n_cached == 0:
            return False
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        too_big = size > self._states.capacity_bytes and not over_cap
        if size == 0 or too_big or (not evicting and not self._states.has_room(size)):
            return False
        try:
            buffer = (ctypes.c_uint8 * size)()
        except MemoryError:
            return False
        written = int(llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0))
        if written == 0:
            return False
        self._states.put(_SavedState(self.tokens, buffer, self._key), over_cap=over_cap)
        return True

    def _restore(self, state: _SavedState) -> bool:
        self.clear()
        ok = llama_cpp.llama_state_seq_set_data(self._llama.ctx, state.data, len(state.data), 0)
        if not ok:
            self.clear()
            return False
        n = len(state.tokens)
        self._llama.input_ids[:n] = state.tokens
        self._llama.n_tokens = n
        return True

    def _restore_checkpoint(self, tokens: _Tokens) -> bool:
        for key, state in reversed(self._states.items()):
            n = len(state.tokens)
            if n < len(tokens) and np.array_equal(state.tokens, tokens[:n]):
                return self._restore(self._states.pop(key))
        return False

    # -- editing the cache --------------------------------------------------------------

    def _edit(self, plan: ReusePlan, tokens: _Tokens) -> bool:
        """Remove, shift and park cells so sequence 0 holds ``tokens[:leading_end]``."""
        mem, llama = self._mem, self._llama
        leading, parked = plan.leading(), plan.parked()
        for seq, chunk in enumerate(parked, start=1):
            llama_cpp.llama_memory_seq_cp(mem, 0, seq, chunk.src, chunk.src + chunk.length)
        ends = _ends(leading)
        removed = [(at, c.src) for at, c in zip(ends, leading, strict=False)]
        removed.append((ends[-1], -1))
        for p0, p1 in removed:
            p1 = llama.n_tokens if p1 < 0 else p1
            if p0 < p1 and not llama_cpp.llama_memory_seq_rm(mem, 0, p0, p1):
                self._drop_spares()
                return False
        for seq, chunk in [(0, c) for c in leading] + list(enumerate(parked, start=1)):
            if chunk.shift:
                end = chunk.src + chunk.length
                llama_cpp.llama_memory_seq_add(mem, seq, chunk.src, end, chunk.shift)
        end = leading[-1].dst + leading[-1].length if leading else 0
        llama.input_ids[:end] = tokens[:end]
        llama.n_tokens = end
        return self._holds_window(end)

    def _holds_window(self, n: int) -> bool:
        """With sliding-window attention, whether the window before position ``n`` is there."""
        if self._n_swa == 0 or n == 0:
            return True
        pos_min = int(llama_cpp.llama_memory_seq_pos_min(self._mem, 0))
        return 0 <= pos_min <= max(0, n - self._n_swa)

    def _keep_logits(self) -> None:
        """Copy the last prompt token's logits, for a repeat of this prompt."""
        n, llama = self._llama.n_tokens, self._llama
        if n < self.logits_min_tokens:
            return
        pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).copy()
        self._logits = (n, logits)

    def _drop_spares(self) -> None:
        """Empty the spare sequences (parked chunks)."""
        for seq in range(1, self._n_spare + 1):
            llama_cpp.llama_memory_seq_rm(self._mem, seq, -1, -1)

    # -- evaluating ---------------------------------------------------------------------

    def _fill(self, plan: ReusePlan, tokens: _Tokens) -> tuple[int, bool]:
        """Evaluate the gaps in order and unpark chunks; (tokens evaluated, finished)."""
        llama = self._llama
        start = llama.n_tokens
        at = start
        evaluated = 0
        disarmed_first = plan.shifted
        for seq, chunk in [*enumerate(plan.parked(), start=1), (0, None)]:
            end = chunk.dst if chunk is not None else len(tokens)
            if at < end:
                before = llama.n_tokens
                ends = end == len(tokens)
                done = self._eval(tokens[at:end].tolist(), ends, disarmed_first)
                evaluated += llama.n_tokens - before
                disarmed_first = False
                if not done:
                    self._drop_spares()
                    return evaluated, False
            if chunk is not None:
                self._unpark(seq, chunk, tokens)
                at = chunk.dst + chunk.length
        return evaluated, True

    def _unpark(self, seq: int, chunk: Chunk, tokens: _Tokens) -> None:
        llama = self._llama
        end = chunk.dst + chunk.length
        llama_cpp.llama_memory_seq_cp(self._mem, seq, 0, chunk.dst, end)
        llama_cpp.llama_memory_seq_rm(self._mem, seq, -1, -1)
        llama.input_ids[chunk.dst : end] = tokens[chunk.dst : end]
        llama.n_tokens = end

    def _eval(self, tokens: list[int], ends_prompt: bool, disarmed_first: bool) -> bool:
        """Evaluate ``tokens`` with the abort callback armed; False if aborted.

        When they end the prompt, the last token is evaluated on its own, as it is when
        a cached prompt is replayed for a swipe, so the logits are bit-identical either way
        and a fixed seed reproduces a reply whether the prompt was cached or not.  A
        checkpoint is saved before that last token where the cache cannot be truncated.
        """
        llama = self._llama
        if disarmed_first:
            llama.eval(tokens[:1])
            tokens = tokens[1:]
            if not tokens:
                return True
        head, tail = (tokens[:-1], tokens[-1:]) if ends_prompt else (tokens, [])
        self._arm_abort(True)
        try:
            if head:
                llama.eval(head)
            if tail and self._checkpoints:
                self.save_state()
            if tail:
                llama.eval(tail)
                self._keep_logits()
        except RuntimeError:
            if not self._aborted():
                raise
            # Drop whatever part of the aborted batch reached the cache.
            llama._ctx.kv_cache_seq_rm(0, llama.n_tokens, -1)
            return False
        finally:
            # Disarmed while decoding: the callback runs per graph node and costs speed.
            self._arm_abort(False)
        return True


def _ends(chunks: Sequence[Chunk]) -> list[int]:
    """Cache position after each chunk, starting with 0 before the first (len + 1 items)."""
    return [0, *(c.src + c.length for c in chunks)]
