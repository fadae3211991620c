"""What the benchmarks share: the machine, results files, tables, timing, device memory.

A benchmark runs as ``python bench/NAME.py``; Python then puts bench/ first on sys.path, so
``from _common import ...`` works with no path set by hand, and the editable install
(``make install``) provides ``prep`` and ``train``. torch is imported inside the functions that
need it, so the CPU-only benchmarks start without it.
"""
from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import time
import weakref
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GIB, MIB = 2 ** 30, 2 ** 20
# The Llama shapes the GPU benchmarks build with random weights (no download); the CPU modes use
# TINY_LLAMA (the vocabulary is the caller's: a tiny tokenizer's or a fixed small one).
LLAMA_1B = dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                intermediate_size=8192, vocab_size=32000)
TINY_LLAMA = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux); elsewhere what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset can allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def package_versions(*names: str) -> dict:
    """{name: installed version} for the packages of ``names`` that are installed."""
    out = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def device_info(*packages: str, **extra_versions) -> dict:
    """CPU model, usable cores, Python's version, the installed ``packages``' versions,
    ``extra_versions`` (name=version) and the platform."""
    return {"cpu": cpu_model(), "cores_usable": usable_cores(), "python": platform.python_version(),
            **package_versions(*packages), **extra_versions, "platform": platform.platform()}


def describe(command: str, device: dict) -> str:
    """A results page's first line: the command, the CPU, Python and the versions device_info() holds."""
    versions = "".join(f", {name} {version}" for name, version in device.items()
                       if name not in ("cpu", "cores_usable", "python", "platform"))
    return (f"`{command}` on {device['cpu']} ({device['cores_usable']} usable cores), "
            f"Python {device['python']}{versions}.")


def command(name: str, argv=None) -> str:
    """How the run was started, as README.md writes it: ``python bench/NAME.py FLAGS``."""
    return " ".join(["python", f"bench/{name}.py", *(sys.argv[1:] if argv is None else argv)])


def _write_atomic(path: Path, text: str) -> None:
    """Write beside the target then rename, so an interrupted run leaves the old file whole."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_results(name: str, data: dict, markdown: str, out_dir=None) -> Path:
    """OUT_DIR/NAME.json (``data``, indented) and OUT_DIR/NAME.md; OUT_DIR defaults to bench/results.

    Returns the folder. Values JSON cannot hold are written as their str().
    """
    out = RESULTS if out_dir is None else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / f"{name}.json", json.dumps(data, indent=2, default=str) + "\n")
    _write_atomic(out / f"{name}.md", markdown)
    return out


def cells(*values) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(v) for v in values) + " |"


def table(names, rows) -> list[str]:
    """A Markdown table: the header ``names``, then one line per row of ``rows`` (each a sequence)."""
    return [cells(*names), cells(*["---"] * len(names)), *(cells(*row) for row in rows)]


def show_bytes(value) -> str:
    """Bytes in GiB, MiB or KiB, whichever shows them best (the CPU modes' figures are KiBs)."""
    if value is None:
        return "n/a"
    if abs(value) >= 0.01 * GIB:
        return f"{value / GIB:.2f} GiB"
    return f"{value / MIB:.1f} MiB" if abs(value) >= MIB else f"{value / 1024:.1f} KiB"


def take_turns(sides: dict, repeat: int, warm_up: bool = False, cpu_clock=time.process_time):
    """Each callable of ``sides`` run in turn, ``repeat`` rounds (after one untimed round when
    ``warm_up``: thread pools, allocators, lazy imports). Returns ({name: [wall seconds]},
    {name: [CPU seconds]}, {name: last result}).

    Taking turns gives every side the same background load on a shared machine; CPU seconds
    (``cpu_clock``: this process's by default) are the figure that load disturbs least.
    """
    for fn in sides.values() if warm_up else ():
        fn()
    walls: dict = {name: [] for name in sides}
    cpus: dict = {name: [] for name in sides}
    results: dict = {}
    for _ in range(repeat):
        for name, fn in sides.items():
            wall, cpu = time.perf_counter(), cpu_clock()
            results[name] = fn()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(cpu_clock() - cpu)
    return walls, cpus, results


def best_of(fn, repeat: int) -> tuple[float, float, object]:
    """(fewest wall seconds, fewest CPU seconds, last result) over ``repeat`` runs of ``fn``."""
    walls, cpus, results = take_turns({"fn": fn}, repeat)
    return min(walls["fn"]), min(cpus["fn"]), results["fn"]


def pick_device(args, name: str) -> str | None:
    """'cuda' or 'cpu' from a GPU benchmark's --gpu / --cpu / --threads flags.

    CUDA when present and neither flag is given. None (after a message) when --gpu is asked
    for without CUDA; the caller exits 2. On the CPU torch gets --threads threads.
    """
    import torch

    if args.gpu and not torch.cuda.is_available():
        print(f"{name}: --gpu asked for but CUDA is not available; run with --cpu", file=sys.stderr)
        return None
    device = "cuda" if args.gpu or (not args.cpu and torch.cuda.is_available()) else "cpu"
    if device == "cpu":
        torch.set_num_threads(args.threads)
    return device


def sync(device: str) -> None:
    """Wait for the GPU's queued work, so that a clock read after it covers that work."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


class Peak:
    """Peak memory in bytes of a block: absolute on CUDA (max allocated from a reset), the growth
    of the resident set on the CPU (sampled every 2 ms by train.heads.metrics.PeakMemory)."""

    def __init__(self, device: str):
        from train.heads.metrics import PeakMemory

        self.device = device
        self.bytes = None
        self._cpu = None if device == "cuda" else PeakMemory("cpu")

    def __enter__(self) -> "Peak":
        if self._cpu is not None:
            self._cpu.__enter__()
        else:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> bool:
        if self._cpu is not None:
            self._cpu.__exit__(*exc)
            self.bytes = self._cpu.peak
        else:
            import torch

            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated()
        return False


def guarded(measure, device: str) -> dict:
    """The row ``measure()`` returns, or {"error": ...} where it failed (out of memory, a missing
    kernel, a setup error); the next row then starts from a clean device."""
    import torch

    try:
        return measure()
    except torch.OutOfMemoryError:
        return {"error": "out of memory"}
    except Exception as exc:  # a benchmark row records its failure and the table goes on
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
    finally:
        if device == "cuda":  # a full collection costs ~0.5 s: only worth it to free GPU memory
            gc.collect()
            torch.cuda.empty_cache()


def tests_module(name: str):
    """tests/NAME.py (the tiny tokenizer and model builders) loaded from its file: putting tests/
    on sys.path would let its module names shadow the benchmark's."""
    path = Path(__file__).resolve().parents[1] / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tests_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def live_bytes_mode():
    """The class of a dispatch mode that measures live tensor bytes on any device (built on first
    use: torch loads only then): the CPU's stand-in for torch.cuda.max_memory_allocated.

    Every tensor an operator returns whose storage is new is counted until that storage is freed
    (a weak reference's finalizer), so ``peak`` is the largest sum of live storages the block
    made: activations saved for backward, gradients, optimizer states, logits, temporaries.
    Storages in ``known`` (weights) and tensors on other kinds of device are not counted. It sees
    what the kernels of its device allocate; allocator rounding, kernel workspaces and memory
    outside PyTorch are not in it.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class LiveBytes(TorchDispatchMode):
        def __init__(self, known=(), device_type: str = "cpu"):
            super().__init__()
            self.known = set(known)  # storage addresses that belong to the caller (weights)
            self.device_type = device_type
            self.live: dict[int, int] = {}
            self.current = self.peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for value in tree_leaves(out):
                if isinstance(value, torch.Tensor) and value.device.type == self.device_type:
                    self._track(value)  # other devices: e.g. host views of paged optimizer states
            return out

        def _track(self, tensor) -> None:
            try:
                storage = tensor.untyped_storage()
            except (RuntimeError, NotImplementedError):
                return  # no plain storage (sparse, nested, some tensor subclasses): not counted
            address, nbytes = storage.data_ptr(), storage.nbytes()
            if not nbytes or address in self.live or address in self.known:
                return  # a view, an in-place result, or a weight
            self.live[address] = nbytes
            self.current += nbytes
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._free, address)

        def _free(self, address: int) -> None:
            self.current -= self.live.pop(address, 0)

    return LiveBytes


def storage_addresses(tensors) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in tensors}
