"""A small Transformer encoder with a classification head, for training from scratch.

Token + learned position embeddings, N blocks, a head on the first token or on the mean of
the real tokens. Two switches exist so that the speed benchmark can compare variants on
the same weights:

- ``norm``: "pre" (x + attn(ln(x)); x + mlp(ln(x)); a last LayerNorm before the head) or
  "post" (BERT's: ln(x + attn(x)); ln(x + mlp(x)); the LayerNorm sits after the embeddings).
  Both hold exactly the same parameters: the one extra LayerNorm is used at the end in one
  and at the start in the other.
- ``attention``: "sdpa" (torch.nn.functional.scaled_dot_product_attention, which picks a
  fused kernel) or "eager" (softmax(Q K^T / sqrt(d)) V written out).

The MLP is Linear -> GELU -> Linear. ``forward(input_ids, attention_mask, labels)`` returns
a dict with ``logits`` (and ``loss`` given labels), which is all the HF Trainer needs.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

CONFIG_FILE = "encoder_config.json"


@dataclass
class EncoderConfig:
    vocab_size: int = 30522
    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    max_len: int = 512
    dropout: float = 0.1
    norm: str = "pre"            # "pre" | "post"
    attention: str = "sdpa"      # "sdpa" | "eager"
    pooling: str = "first"       # "first" | "mean"
    num_labels: int = 2
    pad_token_id: int = 0

    def __post_init__(self):
        checks = {"norm": ("pre", "post"), "attention": ("sdpa", "eager"), "pooling": ("first", "mean")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"EncoderConfig.{name}={getattr(self, name)!r}; choose one of {allowed}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not a multiple of heads {self.heads}")


# Shapes for --model_name_or_path scratch-NAME ("scratch" alone is scratch-small).
PRESETS = {
    "scratch-tiny": dict(hidden=64, layers=2, heads=4, intermediate=128, max_len=128),
    "scratch-small": dict(hidden=256, layers=4, heads=4, intermediate=1024, max_len=512),
    "scratch-base": dict(hidden=768, layers=12, heads=12, intermediate=3072, max_len=512),  # BERT-base shape
}


def preset(name: str, **overrides) -> EncoderConfig:
    key = "scratch-small" if name == "scratch" else name
    if key not in PRESETS:
        raise KeyError(f"no encoder preset {name!r}; presets: scratch, {', '.join(PRESETS)}")
    return EncoderConfig(**{**PRESETS[key], **overrides})


class SelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden)
        self.out = nn.Linear(config.hidden, config.hidden)
        self.dropout = config.dropout
        self.kind = config.attention

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``keep``: (batch, 1, 1, seq) bool, True where a key is a real token."""
        batch, seq, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, seq, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        dropout = self.dropout if self.training else 0.0
        if self.kind == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=dropout)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
            y = F.dropout(scores.softmax(-1), dropout, self.training) @ v
        return self.out(y.transpose(1, 2).reshape(batch, seq, hidden))


class Block(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.pre = config.norm == "pre"
        self.ln_attn = nn.LayerNorm(config.hidden)
        self.attn = SelfAttention(config)
        self.ln_mlp = nn.LayerNorm(config.hidden)
        self.mlp = nn.Sequential(nn.Linear(config.hidden, config.intermediate), nn.GELU(),
                                 nn.Linear(config.intermediate, config.hidden))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        if self.pre:
            x = x + self.drop(self.attn(self.ln_attn(x), keep))
            return x + self.drop(self.mlp(self.ln_mlp(x)))
        x = self.ln_attn(x + self.drop(self.attn(x, keep)))
        return self.ln_mlp(x + self.drop(self.mlp(x)))


class EncoderClassifier(nn.Module):
    """The encoder and its head; usable by the HF Trainer as it is."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.hidden)
        self.positions = nn.Embedding(config.max_len, config.hidden)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.hidden)  # final norm (pre) or embedding norm (post)
        self.head = nn.Linear(config.hidden, config.num_labels)
        self.checkpointing = False
        self.apply(_init)

    def activation_checkpointing_enable(self, **_options) -> None:
        """Recompute each block in the backward pass (what the Trainer calls for --gradient_checkpointing)."""
        self.checkpointing = True

    def activation_checkpointing_disable(self) -> None:
        self.checkpointing = False

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (batch, seq, hidden)."""
        seq = input_ids.shape[1]
        if seq > self.config.max_len:
            raise ValueError(f"sequence of {seq} tokens; this encoder has {self.config.max_len} positions")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        keep = attention_mask.bool()[:, None, None, :]
        x = self.drop(self.tokens(input_ids) + self.positions(torch.arange(seq, device=input_ids.device)))
        if self.config.norm == "post":
            x = self.norm(x)
        for block in self.blocks:
            if self.checkpointing and self.training:
                x = checkpoint(block, x, keep, use_reentrant=False)
            else:
                x = block(x, keep)
        return self.norm(x) if self.config.norm == "pre" else x

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if self.config.pooling == "first":
            return hidden[:, 0]
        if attention_mask is None:
            return hidden.mean(1)
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, input_ids, attention_mask=None, labels=None) -> dict:
        # No **kwargs: the Trainer would take that as a sign that the loss is normalised by
        # num_items_in_batch, and stop dividing it by the gradient accumulation steps.
        logits = self.head(self.drop(self.pool(self.encode(input_ids, attention_mask), attention_mask)))
        out = {"logits": logits}
        if labels is not None:
            out = {"loss": F.cross_entropy(logits.float(), labels), **out}
        return out

    def save(self, directory: str | Path) -> None:
        """The config as JSON and the weights as safetensors."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(directory / "model.safetensors"))

    @classmethod
    def load(cls, directory: str | Path) -> "EncoderClassifier":
        directory = Path(directory)
        model = cls(EncoderConfig(**json.loads((directory / CONFIG_FILE).read_text())))
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return model


def _init(module: nn.Module) -> None:
    # BERT's initialisation: normal(0, 0.02) weights, zero biases.
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
