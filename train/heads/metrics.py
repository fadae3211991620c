"""Scores on held-out labels, and the peak-memory meter used by compare and the benchmark."""
from __future__ import annotations

import os
import threading
import time
import tracemalloc

# How often the CPU meter samples the resident set size: short enough to catch a peak that
# lasts a few milliseconds, long enough to cost nothing measurable.
RSS_SAMPLE_SECONDS = 0.002


def accuracy(gold: list, pred: list) -> float:
    return sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0


def macro_f1(gold: list, pred: list) -> float:
    """Mean over classes (those in gold or pred) of F1 = 2 TP / (2 TP + FP + FN); 0 where undefined."""
    classes = set(gold) | set(pred)
    if not classes:
        return 0.0
    total = 0.0
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        total += 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return total / len(classes)


def regression_scores(gold: list, pred: list) -> dict:
    n = len(gold)
    mean = sum(gold) / n
    sq = sum((g - p) ** 2 for g, p in zip(gold, pred))
    spread = sum((g - mean) ** 2 for g in gold)
    return {"rmse": (sq / n) ** 0.5, "r2": 1.0 - sq / spread if spread else 0.0}


def evaluate(gold: list, pred: list, task: str) -> dict:
    if task == "regression":
        return regression_scores([float(g) for g in gold], [float(p) for p in pred])
    return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred)}


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Peak memory of a block, in bytes, above what was in use when it began.

    On CUDA: ``torch.cuda.max_memory_allocated`` (tensors only). On the CPU: the resident
    set size read from /proc/self/statm by a thread every 2 ms (everything the process
    touches: numpy, torch, Python); where /proc is missing, tracemalloc (Python and numpy
    allocations only). ``kind`` says which was used.
    """

    def __init__(self, device: str = "cpu"):
        self.cuda = device.startswith("cuda")
        self.peak = 0
        self.kind = ""
        self._base = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tracemalloc = False

    def __enter__(self) -> "PeakMemory":
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            self.kind = "cuda max_memory_allocated"
        elif _rss_bytes() is not None:
            self._base = self.peak = _rss_bytes()
            self.kind = "RSS peak above start (sampled every 2 ms)"
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            tracemalloc.start()
            self._tracemalloc = True
            self.kind = "tracemalloc peak (Python and numpy only)"
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes() or 0)
            time.sleep(RSS_SAMPLE_SECONDS)

    def __exit__(self, *exc) -> bool:
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self._base
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes() or 0) - self._base
        else:
            self.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return False
