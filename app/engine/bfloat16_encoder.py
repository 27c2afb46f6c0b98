"""The embedding model's encoder prepared for bfloat16 on a CPU with AVX512-BF16 or AMX.

Imported only once torch is loaded (by :class:`~app.engine.embedder.SentenceTransformerEmbedder`).

Under autocast every pass cast each Linear layer's float32 weights to bfloat16 and
oneDNN reordered them into its blocked layout again.  Here that is done once: each Linear
becomes a :class:`PrepackedLinear` holding its weights in oneDNN's layout, and the word
embeddings are kept in bfloat16 (their rows are only looked up; the sums after them are
float32, as under autocast).  The vectors are those of autocast (0.9999 cosine of
float32's); an import embeds about 14% faster.  The remaining float32 parameters are
copied out of the model file's memory map, so its pages (mapped in as the model runs)
leave the process: the resident size stays where autocast had it.
"""

from __future__ import annotations

from typing import Any

import torch


class PrepackedLinear(torch.nn.Module):
    """A Linear layer whose bfloat16 weights are in oneDNN's blocked layout."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().to(torch.bfloat16)
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, None)
        self.bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16)
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ weight.T + bias`` in bfloat16, over the last dimension."""
        rows = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(
            rows, self.packed, self.bias, "none", [], ""
        )
        return out.reshape(*x.shape[:-1], self.out_features)


def prepare_for_bfloat16(encoder: Any) -> bool:
    """Prepack ``encoder``'s Linear layers, keep its word embeddings in bfloat16 and copy
    its other parameters out of the model file's map (see the module's docstring).

    False, with nothing changed, where oneDNN refuses a layer (autocast then does it all).
    """
    try:
        swaps = [
            (parent, name, PrepackedLinear(child))
            for parent in encoder.modules()
            for name, child in parent.named_children()
            if isinstance(child, torch.nn.Linear)
        ]
    except RuntimeError:
        return False
    for parent, name, prepacked in swaps:
        setattr(parent, name, prepacked)
    words = encoder.get_input_embeddings()
    with torch.no_grad():
        words.weight.data = words.weight.data.to(torch.bfloat16)
        for param in encoder.parameters():
            if param.dtype == torch.float32:
                param.data = param.data.clone()
    return True
