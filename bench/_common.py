"""What every benchmark reports and how it writes: the machine it ran on, bench/results/NAME.{json,md}.

Imported by the benchmarks as ``from _common import ...`` (each puts bench/ on sys.path).
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux); elsewhere what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset can allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def device_info(**extra_versions) -> dict:
    """CPU model, usable cores, Python's version, ``extra_versions`` (name=version) and the platform."""
    return {"cpu": cpu_model(), "cores_usable": usable_cores(), "python": platform.python_version(),
            **extra_versions, "platform": platform.platform()}


def describe(command: str, device: dict) -> str:
    """A results page's first line: the command, the CPU, Python and the versions device_info() holds."""
    versions = "".join(f", {name} {version}" for name, version in device.items()
                       if name not in ("cpu", "cores_usable", "python", "platform"))
    return (f"`{command}` on {device['cpu']} ({device['cores_usable']} usable cores), "
            f"Python {device['python']}{versions}.")


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


def pick_device(args, name: str) -> str | None:
    """'cuda' or 'cpu' from a GPU benchmark's --gpu / --cpu / --threads flags.

    CUDA when present and neither flag is given. None (after a message) when --gpu is asked
    for without CUDA; the caller exits 2. On the CPU torch gets --threads threads.
    """
    import sys

    import torch

    if args.gpu and not torch.cuda.is_available():
        print(f"{name}: --gpu asked for but CUDA is not available; run with --cpu", file=sys.stderr)
        return None
    device = "cuda" if args.gpu or (not args.cpu and torch.cuda.is_available()) else "cpu"
    if device == "cpu":
        torch.set_num_threads(args.threads)
    return device
