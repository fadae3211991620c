"""Inputs for bench/single_pass.py: texts of skewed lengths, and synthetic embeddings with labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Words per text: log-normal with median 14 and sigma 0.9, clipped to [2, 180]. Most texts are
# a short sentence, one in twenty runs past 60 words and a few fill the 256-token window, the
# shape of review and support-ticket corpora.
MEDIAN_WORDS, SIGMA, MIN_WORDS, MAX_WORDS = 14, 0.9, 2, 180


def skewed_texts(count: int, seed: int = 0) -> list[str]:
    """``count`` texts cut from the sample sentences, lengths drawn as described above."""
    words = " ".join((ROOT / "data" / "labelled" / "train.txt").read_text(encoding="utf-8").split("\n")).split()
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.round(rng.lognormal(np.log(MEDIAN_WORDS), SIGMA, size=count)), MIN_WORDS, MAX_WORDS)
    starts = rng.integers(0, len(words), size=count)
    doubled = words + words
    return [" ".join(doubled[s:s + int(n)]) for s, n in zip(starts, lengths)]


def mixture(n: int, dims: int, classes: int, seed: int = 0, noise: float = 6.0):
    """Unit-length rows around ``classes`` random centres (overlapping: accuracy well below 1)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dims)).astype(np.float32) / np.sqrt(dims)
    which = rng.integers(0, classes, size=n)
    x = centres[which] + noise * rng.normal(size=(n, dims)).astype(np.float32) / np.sqrt(dims)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, [int(c) for c in which]


def random_rows(n: int, dims: int, outputs: int, seed: int = 0):
    """(x float32 n x dims, one-hot targets n x outputs float64) from a random linear rule."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dims), dtype=np.float32)
    rule = rng.standard_normal((dims, outputs), dtype=np.float32)
    targets = np.zeros((n, outputs))
    step = 1 << 17
    for start in range(0, n, step):  # in blocks, so no n x outputs float32 scores array is kept
        block = x[start:start + step] @ rule
        targets[np.arange(start, start + len(block)), block.argmax(1)] = 1.0
    return x, targets
