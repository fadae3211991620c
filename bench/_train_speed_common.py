"""What both halves of bench/train_speed.py share: timing, peak memory, synthetic lengths, guards.

Timing: warm-up steps first (not timed: kernel selection, allocator growth, compilation),
then the timed steps between two device synchronisations. Peak memory on CUDA is
torch.cuda.max_memory_allocated over the timed rows (weights, gradients, optimizer state and
activations: everything PyTorch allocated); on the CPU it is the resident set size above
the row's start, sampled every 2 ms (train.heads.metrics.PeakMemory).
"""
from __future__ import annotations

import contextlib
import gc
import time

GIB = 1024 ** 3


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def cleanup(device: str) -> None:
    """Free the last row's model on the GPU (a full collection costs ~0.5 s, not worth it on the CPU)."""
    import torch

    if device == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


class Peak:
    """Peak memory in bytes of a block: absolute on CUDA (from a reset), RSS growth on the CPU."""

    def __init__(self, device: str):
        from train.heads.metrics import PeakMemory

        self.device = device
        self.bytes = None
        self._cpu = None if device == "cuda" else PeakMemory("cpu")

    def __enter__(self) -> "Peak":
        import torch

        if self._cpu is not None:
            self._cpu.__enter__()
        else:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> bool:
        import torch

        if self._cpu is not None:
            self._cpu.__exit__(*exc)
            self.bytes = self._cpu.peak
        else:
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated()
        return False


def run_steps(step, warmup: list, timed: list, device: str) -> float:
    """Seconds for ``step`` over the ``timed`` batches, after running it over ``warmup``."""
    for batch in warmup:
        step(batch)
    sync(device)
    start = time.perf_counter()
    for batch in timed:
        step(batch)
    sync(device)
    return time.perf_counter() - start


def guarded(measure, device: str) -> dict:
    """The row ``measure()`` returns, or {"error": ...} where it failed (out of memory, a missing
    kernel); the next row then starts from a clean device."""
    import torch

    try:
        return measure()
    except torch.OutOfMemoryError:
        return {"error": "out of memory"}
    except Exception as exc:  # a benchmark row records its failure and the table goes on
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
    finally:
        cleanup(device)


def skewed_lengths(n: int, median: float, cap: int, seed: int, sigma: float = 0.8, low: int = 4) -> list[int]:
    """Lognormal lengths (most short, a long tail), clipped to [low, cap]: real text is skewed so."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.normal(np.log(median), sigma, n)).round().astype(int)
    return np.clip(lengths, low, cap).tolist()


def autocast(device: str, bf16: bool):
    import torch

    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=torch.bfloat16)


def adamw(parameters, device: str, lr: float = 1e-5):
    import torch

    trainable = [p for p in parameters if p.requires_grad]
    return torch.optim.AdamW(trainable, lr=lr, fused=device == "cuda")


def gib(value) -> str:
    return "n/a" if value is None else f"{value / GIB:.2f} GiB" if value >= 0.01 * GIB else f"{value / 2**20:.1f} MiB"
