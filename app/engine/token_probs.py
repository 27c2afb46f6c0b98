"""Token probabilities for ``GenerationRequest.n_probs`` (llama.cpp's ``n_probs``).

As llama-server does by default, probabilities are the softmax of the raw logits at a
position, before any sampler: what the model thought, whatever the sampling settings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from app.engine.base import TokenProb, TokenProbs


def token_probs(
    logits: npt.NDArray[np.float32], token: int, n: int, text: Callable[[int], str]
) -> TokenProbs:
    """``token``'s probability and the ``n`` most likely tokens (best first) at ``logits``.

    ``text`` gives a token's text.
    """
    shifted = np.asarray(logits, dtype=np.float64) - float(np.max(logits))
    weights = np.exp(shifted)
    probs = weights / weights.sum()
    n = max(0, min(n, len(probs)))
    best = np.argpartition(-probs, n - 1)[:n] if n else np.empty(0, dtype=np.int64)
    best = best[np.argsort(-probs[best], kind="stable")]
    top = tuple(TokenProb(int(t), text(int(t)), float(probs[t])) for t in best)
    return TokenProbs(TokenProb(token, text(token), float(probs[token])), top)
