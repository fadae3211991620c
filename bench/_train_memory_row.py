"""bench/train_memory.py, one row: the project's runner trained for a few steps, with a meter.

A row is a dict (``spec``): the entry point (``hf_trainer`` or ``qlora``), its argv, the
device, warm-up and timed steps, and the tokens each step holds. ``run_row(spec)`` parses
the argv as that entry point does and calls train.lm.runner.run_parsed with a ``Meter``
callback; it returns the figures or {"error": ...}. On the GPU each row runs in a process of
its own (``python bench/_train_memory_row.py SPEC.json RESULT.json``), so that one row's
allocator pool and CUDA peak cannot leak into the next.

Measured: time at the end of each step (after a device synchronisation), so tokens/s covers
the timed steps only; memory from the start of training (model loaded, adapters made) to the
end of the last step: on CUDA torch.cuda.max_memory_allocated / max_memory_reserved; on the
CPU the growth of the resident set (bench/_train_speed_common.Peak). bitsandbytes' paged
optimizer states live in CUDA unified memory, outside PyTorch's allocator: they are counted
from the optimizer's state and reported on their own.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path[:0] = [str(HERE.parent), str(HERE)]

from _train_speed_common import Peak, guarded, sync  # noqa: E402


def state_bytes(optimizer) -> tuple[int, int]:
    """(all optimizer state bytes, the part held in paged unified memory)."""
    import torch

    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the real optimizer
    total = paged = 0
    for state in inner.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                size = value.numel() * value.element_size()
                total += size
                paged += size if getattr(value, "is_paged", False) else 0
    return total, paged


def _quant_tensors(state) -> list:
    """The tensors of a bitsandbytes QuantState (absmax, code, offset) and of its nested state."""
    import torch

    if state is None:
        return []
    found = [v for v in vars(state).values() if isinstance(v, torch.Tensor)]
    return found + _quant_tensors(getattr(state, "state2", None))


def model_tensors(model) -> list:
    """Parameters, buffers and 4-bit quantization constants."""
    tensors = [*model.parameters(), *model.buffers()]
    return tensors + [t for p in model.parameters() for t in _quant_tensors(getattr(p, "quant_state", None))]


def tensor_bytes(model) -> dict:
    """Bytes the model's tensors hold, by dtype (each storage counted once), and the trainable
    parameter count: what the estimate's weights term and trainable count describe, read
    from the model itself on any device."""
    seen, by_dtype = set(), {}
    for t in model_tensors(model):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key in seen:
            continue
        seen.add(key)
        name = str(t.dtype).removeprefix("torch.")
        by_dtype[name] = by_dtype.get(name, 0) + t.numel() * t.element_size()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"model_tensor_bytes": sum(by_dtype.values()), "model_bytes_by_dtype": by_dtype,
            "trainable_params": trainable}


def meter_class():
    """A TrainerCallback class (built on first use: transformers loads only then)."""
    from transformers import TrainerCallback

    class Meter(TrainerCallback):
        """Step end times and the training peak; figures land in ``self.figures``."""

        def __init__(self, device: str, track_until: int | None):
            self.device = device
            self.times: list[float] = []
            self.peak = Peak(device)
            self.figures: dict = {}
            self.track_until = track_until  # live tensor bytes over the untimed first steps (None: not)
            self.tracker = None

        def on_train_begin(self, args, state, control, **kwargs):
            import torch
            from _train_memory_track import mode_class, storage_addresses

            self.figures.update(tensor_bytes(kwargs["model"]))
            if self.device == "cuda":
                torch.cuda.synchronize()
                # what stays allocated through training: weights (quantized or not) and adapters
                self.figures["static_bytes"] = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            if self.track_until is not None:
                known = storage_addresses(model_tensors(kwargs["model"]))
                self.tracker = mode_class()(known, self.device)
                self.tracker.__enter__()
            self.peak.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            import torch

            sync(self.device)
            if self.tracker is not None and state.global_step >= self.track_until:
                self.tracker.__exit__(None, None, None)
                self.figures["tracked_peak_bytes"] = self.tracker.peak
                self.tracker = None
            self.times.append(time.perf_counter())
            if state.global_step < state.max_steps:
                return
            self.peak.__exit__(None, None, None)
            self.figures["peak_bytes"] = self.peak.bytes
            if self.device == "cuda":
                self.figures["reserved_bytes"] = torch.cuda.max_memory_reserved()
            total, paged = state_bytes(kwargs["optimizer"])
            self.figures.update(optimizer_state_bytes=total, paged_state_bytes=paged)

    return Meter


ENTRY_POINTS = {"hf_trainer": "train.hf_trainer", "qlora": "train.qlora"}


def parsed_args(entry: str, argv: list[str]) -> tuple:
    """``argv`` parsed as ``python -m train.ENTRY`` parses it (its defaults, leading flags, checks)."""
    import importlib

    from train.lm.runner import parse_cli

    module = importlib.import_module(ENTRY_POINTS[entry])
    parsed = parse_cli(argv, module.types(), module.PROG, getattr(module, "LEADING", ()))
    if hasattr(module, "check"):
        module.check(parsed)
    return parsed


def cuda_context_bytes() -> int | None:
    """Device memory in use right after CUDA starts and before any tensor: the context
    (and anything else on the GPU; a lent GPU runs nothing else)."""
    import torch

    free, total = torch.cuda.mem_get_info()
    return total - free


def measure(spec: dict) -> dict:
    from train.lm.runner import run_parsed

    device = spec["device"]
    context = cuda_context_bytes() if device == "cuda" else None
    meter = meter_class()(device, track_until=max(1, spec["warmup"]) if spec["track"] else None)
    try:
        record = run_parsed(parsed_args(spec["entry"], spec["argv"]), callbacks=[meter])
    finally:
        if meter.tracker is not None:  # training stopped early: leave no mode behind for the next row
            meter.tracker.__exit__(None, None, None)
    # timed from the end of the last warm-up step (or of the first step: a start is needed)
    first, times = max(spec["warmup"], 1), meter.times
    if len(times) <= first:
        return {"error": f"only {len(times)} steps ran; nothing timed after step {first}"}
    seconds, timed = times[-1] - times[first - 1], len(times) - first
    return {"steps_timed": timed, "seconds": seconds,
            "tokens_per_s": timed * spec["tokens_per_step"] / seconds,
            "cuda_context_bytes": context, "global_step": record["global_step"],
            "train_loss": record["metrics"].get("train_loss"), **meter.figures}


def run_row(spec: dict) -> dict:
    """The row's figures, or {"error": ...} (out of memory, a setup error, a missing kernel)."""
    from prep.core.errors import StageError

    def attempt():
        try:
            return measure(spec)
        except StageError as exc:
            return {"error": f"setup: {exc}"}

    return guarded(attempt, spec["device"])


def gpu_info() -> dict:
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "memory_bytes": props.total_memory,
            "capability": f"{props.major}.{props.minor}"}


def main(argv: list[str]) -> int:
    """SPEC.json RESULT.json: one row in this process, its figures written as JSON."""
    spec = json.loads(Path(argv[0]).read_text())
    result = run_row(spec)
    if spec["device"] == "cuda":
        result["gpu"] = gpu_info()
    Path(argv[1]).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
