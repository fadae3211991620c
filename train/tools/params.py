"""Parameter counts of a transformer from its config alone (nothing is loaded or allocated).

Config field names differ between model families, so ``FIELDS`` maps each quantity to the
names configs use for it, and ``LAYOUT_FIELDS`` picks the block layout from the fields a config
has (never from the model's name):

- ``decoder`` (Llama, Mistral, Qwen style): separate q/k/v/o projections with grouped-query
  attention, a gated MLP (gate, up, down), rotary positions (no position table).
- ``fused`` (GPT-2 style, ``n_embd``): one fused qkv projection (c_attn), c_proj, a plain MLP
  (c_fc, c_proj), a learned position table, biases everywhere.
- ``encoder`` (BERT style, ``type_vocab_size``): query/key/value/dense, a plain MLP, learned
  position and token-type tables, biases everywhere, an LM head transform.

With h hidden size, i intermediate size, L layers, H heads, K kv heads, d head size (h / H
unless ``head_dim`` is given), V vocab, P positions, counts are in parameters:

  attention (decoder)  h*H*d (q) + 2 * h*K*d (k, v) + H*d*h (o)    (+ biases with attention_bias)
  MLP, gated           3 * h*i                                     (+ biases with mlp_bias)
  MLP, plain           2 * h*i + i + h                             (biases)
  norms per layer      2 * h (RMSNorm, ``rms_norm_eps``) or 2 * 2h (LayerNorm with bias)
  embeddings           V*h (+ P*h learned positions, + T*h token types)
  LM head              V*h, unless ``tie_word_embeddings`` (default true when absent)
  total                embeddings + L * (attention + MLP + norms) + final norm + LM head

Biases the config does not announce (Qwen2's q/k/v biases, about 0.01 % of the weights) are
not counted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from prep.core.errors import StageError
from train.lm.lora import ALL_LINEAR, default_targets, parse_targets

FIELDS = {
    "hidden": ("hidden_size", "n_embd", "d_model", "dim"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    "intermediate": ("intermediate_size", "n_inner", "ffn_dim", "d_ff"),
    "vocab": ("vocab_size", "padded_vocab_size"),
    "head_dim": ("head_dim",),
    "positions": ("n_positions", "max_position_embeddings"),
    "token_types": ("type_vocab_size",),
}
# The first of these fields that a config has decides its layout; none of them: "decoder".
LAYOUT_FIELDS = {"n_embd": "fused", "type_vocab_size": "encoder"}
# Leaf names of the input embedding in each layout (LoRA can target it too).
EMBED_NAME = {"decoder": "embed_tokens", "fused": "wte", "encoder": "word_embeddings"}
HEAD_NAME = "lm_head"


@dataclass
class Shape:
    """What the counts need, read from a config."""
    layout: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    head_dim: int
    tied: bool
    positions: int = 0
    token_types: int = 0
    model_type: str | None = None
    layer_norm: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    notes: list[str] = field(default_factory=list)


def read_config(model: str) -> dict:
    """config.json of a local folder (or the file itself), else the local hub cache; never downloads."""
    path = Path(model)
    if path.is_dir():
        if not (path / "config.json").is_file():
            present = ", ".join(sorted(p.name for p in path.iterdir())[:20]) or "nothing"
            raise StageError(f"{model} has no config.json (it holds: {present})")
        path = path / "config.json"
    if path.is_file():
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise StageError(f"{path} is not valid JSON: {exc}") from exc
    else:
        # transformers: imported here to keep it off the CLI's start-up path
        from transformers import AutoConfig
        try:
            config = AutoConfig.from_pretrained(model, local_files_only=True).to_dict()
        except (OSError, ValueError) as exc:
            raise StageError(f"no config for {model!r}: not a folder with config.json, not a config "
                             f"file, and not in the local hub cache ({exc.__class__.__name__})") from exc
    # Multimodal configs keep the language model's fields in text_config.
    return {**config, **config["text_config"]} if isinstance(config.get("text_config"), dict) else config


def pick(config: dict, quantity: str):
    for name in FIELDS[quantity]:
        if config.get(name) is not None:
            return config[name]
    return None


def shape_of(config: dict) -> Shape:
    """A Shape from config fields through FIELDS; names what is missing."""
    found = {q: pick(config, q) for q in FIELDS}
    missing = [f"{q} ({' / '.join(FIELDS[q])})" for q in ("hidden", "layers", "heads", "vocab")
               if found[q] is None]
    if missing:
        raise StageError(f"the config lacks {', '.join(missing)}; it has: {', '.join(sorted(config))}")
    layout = next((name for key, name in LAYOUT_FIELDS.items() if key in config), "decoder")
    hidden, heads = int(found["hidden"]), int(found["heads"])
    notes = []
    if found["intermediate"] is None:
        notes.append("no intermediate size in the config: assumed 4 * hidden")
    if "tie_word_embeddings" not in config:
        notes.append("tie_word_embeddings absent: assumed tied")
    layer_norm = any(k in config for k in ("layer_norm_eps", "layer_norm_epsilon")) or \
        (layout != "decoder" and "rms_norm_eps" not in config)
    return Shape(
        layout=layout, hidden=hidden, layers=int(found["layers"]), heads=heads,
        kv_heads=int(found["kv_heads"] or heads), intermediate=int(found["intermediate"] or 4 * hidden),
        vocab=int(found["vocab"]), head_dim=int(found["head_dim"] or hidden // heads),
        tied=bool(config.get("tie_word_embeddings", True)),
        positions=int(found["positions"] or 0) if layout != "decoder" else 0,
        token_types=int(found["token_types"] or 0), layer_norm=layer_norm,
        attention_bias=bool(config.get("attention_bias", layout != "decoder")),
        mlp_bias=bool(config.get("mlp_bias", layout != "decoder")), notes=notes,
        model_type=config.get("model_type"))


def block_linears(s: Shape) -> list[tuple[str, int, int, bool]]:
    """(leaf name, in features, out features, has bias) of every linear layer in one block."""
    h, i, q, kv = s.hidden, s.intermediate, s.heads * s.head_dim, s.kv_heads * s.head_dim
    a, m = s.attention_bias, s.mlp_bias
    layouts = {
        "decoder": [("q_proj", h, q, a), ("k_proj", h, kv, a), ("v_proj", h, kv, a), ("o_proj", q, h, a),
                    ("gate_proj", h, i, m), ("up_proj", h, i, m), ("down_proj", i, h, m)],
        "fused": [("c_attn", h, 3 * h, a), ("c_proj", h, h, a), ("c_fc", h, i, m), ("c_proj", i, h, m)],
        "encoder": [("query", h, h, a), ("key", h, h, a), ("value", h, h, a), ("dense", h, h, a),
                    ("dense", h, i, m), ("dense", i, h, m)],
    }
    return layouts[s.layout]


def counts(s: Shape) -> dict[str, int]:
    """Parameters by part: embeddings, blocks (of which block_linear), head, total."""
    norm = 2 * s.hidden if s.layer_norm else s.hidden
    linear = sum(n_in * n_out for _, n_in, n_out, _ in block_linears(s))
    biases = sum(n_out for _, _, n_out, bias in block_linears(s) if bias)
    embeddings = (s.vocab + s.positions + s.token_types) * s.hidden
    extra = norm  # the final norm
    if s.layout == "encoder":
        # No final norm; an embedding LayerNorm, and the LM head's transform (dense h*h + bias,
        # LayerNorm) and vocab bias.
        extra = norm + s.hidden * s.hidden + s.hidden + norm + s.vocab
    head = 0 if s.tied else s.vocab * s.hidden
    blocks = s.layers * (linear + biases + 2 * norm)
    total = embeddings + blocks + head + extra
    return {"embeddings": embeddings, "blocks": blocks, "block_linear": s.layers * linear,
            "head": head, "other": extra, "total": total}


def lora_targets(s: Shape, targets: str | None) -> set[str]:
    """The leaf names the runner's --lora_target_modules picks (train.lm.lora's rules); names unknown ones."""
    names = {n for n, *_ in block_linears(s)}
    parsed = parse_targets(targets)
    if parsed is None:
        parsed = default_targets(s.model_type)
    wanted = names if parsed == ALL_LINEAR else set(parsed)
    unknown = wanted - names - {EMBED_NAME[s.layout], HEAD_NAME}
    if unknown:
        known = ", ".join(sorted(names | {EMBED_NAME[s.layout], HEAD_NAME}))
        raise StageError(f"unknown LoRA target(s) {', '.join(sorted(unknown))} for a {s.layout} layout; "
                         f"known: all-linear, {known} (see `tunesmith models list-modules`)")
    return wanted


def lora_params(s: Shape, targets: str | None, rank: int, dora: bool = False) -> int:
    """Trainable LoRA parameters for a comma list of leaf names, or all-linear (every block linear).

    A LoRA pair on a linear layer of in x out features adds rank * (in + out) parameters; on the
    embedding (V x h) it adds rank * (V + h), and likewise on the LM head. DoRA adds a magnitude
    vector of one parameter per output feature: out on a linear layer, V on the LM head, h on
    the embedding (PEFT's DoraEmbeddingLayer keeps one per embedding dimension).
    """
    wanted = lora_targets(s, targets)
    per_layer = sum(rank * (n_in + n_out) + (n_out if dora else 0)
                    for n, n_in, n_out, _ in block_linears(s) if n in wanted)
    trainable = s.layers * per_layer
    trainable += rank * (s.vocab + s.hidden) * sum(n in wanted for n in (EMBED_NAME[s.layout], HEAD_NAME))
    if dora:
        trainable += s.hidden * (EMBED_NAME[s.layout] in wanted) + s.vocab * (HEAD_NAME in wanted)
    return trainable
