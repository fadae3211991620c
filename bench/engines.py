"""Wall time of `prep clean` / `prep filter` on one worker, on two, and on Ray, in the same run.

    .venv/bin/python bench/engines.py [--records 100000] [--stages clean,filter] [--runs local-1,local-2,ray-2] [--quick]

Records: the real records under tests/data (instruction sets in every layout, code answers,
labelled web text) drawn with replacement to --records under fresh ids, so their lengths and
mix are real. Each stage runs as a user runs it (`tunesmith prep STAGE ...`, a process of its
own, start-up included) with --workers 1 (the baseline: one process, no pool), --workers 2, and
--engine ray --workers 2 (a local cluster started and stopped by the stage). Printed: seconds
of each, the speed-up of two workers over one, and Ray's time over two local workers; the
outputs are checked to be the same files. The runs take turns, --repeat rounds, and the best
wall time of each counts (the machine may be shared). Ray's start and stop alone are timed too.

A local Ray cluster must not reach past the loopback address here: Ray runs only when no
interface but loopback is up (run under tests/loopback_only.sh), else it is left out with a note.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import command, describe, device_info, table, take_turns, write_results

from prep.core.records import read_records

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["tests/data/layouts/*.json*", "tests/data/code/*.jsonl", "tests/data/filters/quality/records.jsonl"]
FLAGS = {"clean": [], "filter": ["--lang", "en"]}
RUNS = {"local-1": ["--workers", "1"], "local-2": ["--workers", "2"], "ray-2": ["--engine", "ray", "--workers", "2"]}
RAY_START = """
import time
t = time.perf_counter()
from prep.core.engine_ray import _cluster
with _cluster(2, None, True):
    up = time.perf_counter()
print(round(up - t, 2), round(time.perf_counter() - up, 2))
"""


def write_sample(path: Path, count: int) -> None:
    pool = [item.record for spec in SOURCES for item in read_records(ROOT / spec) if item.error is None]
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as fh:
        for n in range(count):
            record = {"id": f"b{n}", **{k: v for k, v in rng.choice(pool).items() if k != "id"}}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def loopback_only() -> bool:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_engines import outside_interfaces  # the tests' own check

    return not outside_interfaces()


def run_stage(stage: str, src: Path, out: Path, flags: list[str]) -> None:
    argv = [str(Path(sys.executable).with_name("tunesmith")), "prep", stage, "--input", str(src),
            "--output", str(out), "--quiet", *FLAGS[stage], *flags]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def children_cpu() -> float:
    """CPU seconds of the finished child processes (a pool's workers included, not Ray's)."""
    times = os.times()
    return times.children_user + times.children_system


def same_files(a: Path, b: Path) -> bool:
    return all(a.with_name(a.name + s).read_bytes() == b.with_name(b.name + s).read_bytes()
               for s in ("", ".rejected.jsonl"))


RATIOS = {"local-1 / local-2": ("local-1", "local-2"), "ray-2 / local-2": ("ray-2", "local-2")}


def measure(stage: str, src: Path, folder: Path, runs: dict, repeat: int) -> dict:
    """One stage: best wall seconds per run, CPU seconds of the local runs, ratios, same files."""
    sides = {name: (lambda n=name, f=flags: run_stage(stage, src, folder / f"{stage}-{n}.jsonl", f))
             for name, flags in runs.items()}
    walls, cpus, _ = take_turns(sides, repeat, cpu_clock=children_cpu)
    seconds = {name: min(values) for name, values in walls.items()}
    first = folder / f"{stage}-{next(iter(runs))}.jsonl"
    row = {f"{name}_s": round(value, 2) for name, value in seconds.items()}
    row["local_cpu_s"] = {name: round(min(cpus[name]), 2) for name in runs if name.startswith("local")}
    row["ratios"] = {label: round(seconds[a] / seconds[b], 2) for label, (a, b) in RATIOS.items()
                     if a in seconds and b in seconds}
    row["same_files"] = all(same_files(first, folder / f"{stage}-{name}.jsonl") for name in runs)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="records in the input")
    parser.add_argument("--stages", default="clean,filter", help="comma list of stages: clean, filter")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma list of runs: {', '.join(RUNS)}")
    parser.add_argument("--quick", action="store_true", help="10,000 records, clean only")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each run's best wall time counts")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    count, stages = (10_000, ["clean"]) if args.quick else (args.records, args.stages.split(","))
    runs = {name: RUNS[name] for name in args.runs.split(",")}
    note = ""
    if "ray-2" in runs and not loopback_only():
        runs.pop("ray-2")
        note = "Ray left out: an interface other than loopback is up (run under tests/loopback_only.sh)."
    data: dict = {"records": count, "stages": {}}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        write_sample(src, count)
        if "ray-2" in runs:
            up, down = subprocess.run([sys.executable, "-c", RAY_START], capture_output=True, text=True,
                                      check=True).stdout.split()
            data["ray_start_s"], data["ray_stop_s"] = float(up), float(down)
            note = f"Ray's local cluster of 2 CPUs alone: up in {up} s, down in {down} s."
            print(note, flush=True)
        for stage in stages:
            data["stages"][stage] = measure(stage, src, Path(tmp), runs, args.repeat)
            print(stage, json.dumps(data["stages"][stage]), flush=True)
    device = device_info("ray")
    labels = [label for label, pair in RATIOS.items() if set(pair) <= set(runs)]
    rows = [[stage, *[row[f"{name}_s"] for name in runs], *[f"{row['ratios'][label]}x" for label in labels],
             row["same_files"]] for stage, row in data["stages"].items()]
    markdown = "\n".join([describe(command("engines"), device), "",
                          f"{count:,} real records; wall seconds of the whole command, best of {args.repeat}.",
                          note, "", *table(["stage", *[f"{name} s" for name in runs], *labels, "same files"], rows), ""])
    print(write_results("engines", {**data, "device": device}, markdown, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
