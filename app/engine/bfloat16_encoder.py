"""The embedding model's BERT encoder run in bfloat16 on a CPU with AVX512-BF16 or AMX.

Imported only once torch is loaded (by :class:`~app.engine.embedder.SentenceTransformerEmbedder`).

transformers' model, run under autocast on packed rows, spent a third of a pass on
what no pass needs.  Here:

* each Linear layer's weights are cast to bfloat16 and reordered into oneDNN's blocked
  layout once (:class:`PrepackedLinear`), not on every pass;
* the query, key and value are one product, and the intermediate layer's GELU runs
  inside its product (oneDNN's post-op), so the hidden state is cast to bfloat16 twice
  a layer, not four times, and GELU reads and writes no tensor of its own;
* attention is bfloat16 throughout: scores, mask and softmax (autocast took the scores
  to float32 for the mask and the softmax, and back to bfloat16);
* the float32 weights do not stay in memory beside the bfloat16 ones.

The word embeddings are kept in bfloat16 (their rows are only looked up); the sums,
the layer norms and the residual stream are float32, as under autocast.  The vectors
stay within 0.9999 cosine of the float32 model's.
"""

from __future__ import annotations

from typing import Any

import torch

from app.engine.packing import PackedRows

BFLOAT16 = torch.bfloat16


class PrepackedLinear:
    """A Linear layer's bfloat16 weights in oneDNN's blocked layout (``weight`` rows
    stacked where one product serves several layers)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().to(BFLOAT16), None)
        self.bias = bias.detach().to(BFLOAT16)

    def __call__(self, x: torch.Tensor, *, gelu: bool = False) -> torch.Tensor:
        """``x @ weight.T + bias`` over the last dimension, in bfloat16 (then GELU,
        where ``gelu``)."""
        post, algorithm = ("gelu", "none") if gelu else ("none", "")
        rows = x.reshape(-1, x.shape[-1]).to(BFLOAT16)
        out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(
            rows, self.packed, self.bias, post, [], algorithm
        )
        return out.reshape(*x.shape[:-1], out.shape[-1])


class EncoderLayer:
    """One BERT layer: self-attention, then the feed-forward block, each followed by
    its residual sum and layer norm."""

    def __init__(self, layer: Any, heads: int) -> None:
        attention = layer.attention.self
        self.heads = heads
        # The scores' scaling by 1/√(head size) is done by the query's weights.
        scale = (attention.query.out_features // heads) ** -0.5
        self.qkv = PrepackedLinear(
            torch.cat(
                [attention.query.weight * scale, attention.key.weight, attention.value.weight]
            ),
            torch.cat([attention.query.bias * scale, attention.key.bias, attention.value.bias]),
        )
        self.attention_out = _prepacked(layer.attention.output.dense)
        self.attention_norm: torch.nn.LayerNorm = layer.attention.output.LayerNorm
        self.up = _prepacked(layer.intermediate.dense)
        self.down = _prepacked(layer.output.dense)
        self.norm: torch.nn.LayerNorm = layer.output.LayerNorm

    def __call__(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The layer's output for ``hidden`` (rows, length, width), float32, where
        ``mask`` says which tokens each token attends to
        (:meth:`~app.engine.packing.PackedRows.attention_mask`)."""
        context = self.attention(self.qkv(hidden), mask)
        hidden = self.attention_norm(self.attention_out(context) + hidden)
        out: torch.Tensor = self.norm(self.down(self.up(hidden, gelu=True)) + hidden)
        return out

    def attention(self, qkv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Self-attention over each row: ``qkv`` (rows, length, 3 × width) in, (rows,
        length, width) out, in bfloat16 throughout."""
        rows, length, width = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
        split = qkv.view(rows, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        query, key, value = split.unbind(0)
        scores = torch.matmul(query, key.transpose(2, 3)) + mask
        out = torch.matmul(torch.softmax(scores, dim=-1), value)
        return out.transpose(1, 2).reshape(rows, length, width)


class BFloat16Bert:
    """A BERT model's encoder in bfloat16, run on packed rows (see the module's
    docstring); built by :func:`bfloat16_bert`."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.embeddings = model.embeddings
        self.layers = [
            EncoderLayer(layer, config.num_attention_heads) for layer in model.encoder.layer
        ]

    def __call__(self, rows: PackedRows) -> torch.Tensor:
        """The last layer's output for every token of ``rows`` (tokens, width), float32."""
        hidden: torch.Tensor = self.embeddings(
            input_ids=rows.input_ids,
            token_type_ids=torch.zeros_like(rows.input_ids),
            position_ids=rows.position_ids,
        )
        mask = rows.attention_mask(BFLOAT16)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return hidden.reshape(-1, hidden.shape[-1])


def bfloat16_bert(model: Any) -> BFloat16Bert | None:
    """``model`` (transformers' ``BertModel``) as a :class:`BFloat16Bert`, with its
    word embeddings in bfloat16 and its other float32 parameters copied out of the model
    file's memory map (so that the file's pages leave once ``model`` is dropped).

    None, with ``model`` unchanged, for another architecture or where oneDNN refuses a
    layer: transformers' model then runs under autocast.
    """
    config = model.config
    plain_bert = (
        type(model).__name__ == "BertModel"
        and config.hidden_act == "gelu"
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
    )
    if not plain_bert:
        return None
    try:
        bert = BFloat16Bert(model)
    except (AttributeError, RuntimeError):
        return None
    words = bert.embeddings.word_embeddings
    with torch.no_grad():
        words.weight.data = words.weight.data.to(BFLOAT16)
        for layer in bert.layers:
            for norm in (layer.attention_norm, layer.norm):
                for param in norm.parameters():
                    param.data = param.data.clone()
        for param in bert.embeddings.parameters():
            if param.dtype == torch.float32:
                param.data = param.data.clone()
    return bert


def _prepacked(linear: torch.nn.Linear) -> PrepackedLinear:
    return PrepackedLinear(linear.weight, linear.bias)
