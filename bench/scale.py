"""clean -> dedup -> tokenize on one local worker, two, and Ray, then at growing sizes.

    .venv/bin/python bench/scale.py [--records 5000] [--sizes 5000,15000,50000] [--runs local-1,local-2,ray-2]
    .venv/bin/python bench/scale.py --records 1000000 --sizes 100000,300000,1000000   # the full run

Records: instruction records {id, input, output} of about 1 KB made from the real records of
tests/data, a tenth of them exact and a tenth near duplicates of earlier ones (bench/scale_records.py).
Each stage runs as a user runs it (`tunesmith prep STAGE`, a process of its own,
start-up included): clean, dedup (with the engine flags where `prep dedup --help` lists them,
else in one process), tokenize (a byte-level BPE trained on the fly by tests/tiny.py).

Printed per run: seconds per stage and in all, CPU seconds of the stage processes (and the
descendants they reaped), the peak memory of the whole process tree
(proportional set size, PSS, summed over the stage's processes, sampled every SAMPLE_SECONDS
from /proc: shared pages count once, so forked workers and Ray's object store are not counted
twice), and both as ratios against local-1 measured in the same run. Then the scaling rows
(local-2 at each of --sizes): seconds and peak memory per stage, and the check that the CPU
seconds of each stage grow no faster than n log n between the smallest and the largest size
(with SLACK for a shared machine); dedup's peak memory per added record. Ray runs only where no interface
but loopback is up (run under /work/shared/netns/isolated or tests/loopback_only.sh).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import command, describe, device_info, show_bytes, table, tests_module, write_results
from engines import loopback_only
from scale_records import EXACT_SHARE, NEAR_SHARE, planted_in, write_records

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"local-1": ["--workers", "1"], "local-2": ["--workers", "2"], "ray-2": ["--engine", "ray", "--workers", "2"]}
SAMPLE_SECONDS = 0.1
SLACK = 1.25   # a stage may take this much longer than n log n predicts (start-up, a busy machine)
MAX_LENGTH = 1024


class TreePeak(threading.Thread):
    """Peak PSS in bytes of a process and all its descendants (``peak``), sampled every
    SAMPLE_SECONDS until ``done`` is set, and the root process's own VmHWM (``hwm``: kB in
    /proc/PID/status, the kernel's high-water mark, so no sample can miss it)."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.hwm, self.done = root, 0, 0, threading.Event()

    def tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:   # gone between listing and reading
                    continue
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(SAMPLE_SECONDS)

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.root}/status").read_text()
            self.hwm = max(self.hwm, int(status.split("VmHWM:")[1].split()[0]) * 1024)
        except (OSError, IndexError):   # exited (or a zombie, which has no VmHWM left)
            pass
        total = 0
        for pid in self.tree():
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                total += int(rollup.split("\nPss:")[1].split()[0]) * 1024
            except (OSError, IndexError):   # exited, or not ours to read
                continue
        self.peak = max(self.peak, total)


def watched(argv: list[str]) -> tuple[float, int, str, TreePeak]:
    """Run ``argv`` (stdout discarded) with a TreePeak on it: (wall seconds, exit status, stderr, peaks)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    peak = TreePeak(proc.pid)
    peak.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    peak.done.set()
    peak.join()
    return seconds, proc.returncode, err, peak


def run_stage(argv: list[str]) -> dict:
    before = children_cpu()
    seconds, code, err, peak = watched([str(Path(sys.executable).with_name("tunesmith")), *argv])
    if code != 0:
        raise SystemExit(f"tunesmith {' '.join(argv)} failed ({code}):\n{err[-2000:]}")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(children_cpu() - before, 2), "peak_bytes": peak.peak}


def children_cpu() -> float:
    """CPU seconds of the finished child processes and the descendants they waited for (a pool's
    workers; Ray's worker processes only where they were reaped before the stage ended)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def pipeline(src: Path, folder: Path, flags: list[str], tokenizer: Path, dedup_engine: bool) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    common = ["--quiet"]
    stages = {
        "clean": ["prep", "clean", "--input", str(src), "--output", str(folder / "clean.jsonl"), *flags],
        "dedup": ["prep", "dedup", "--input", str(folder / "clean.jsonl"), "--output", str(folder / "dedup.jsonl"),
                  *(flags if dedup_engine else [])],
        "tokenize": ["prep", "tokenize", "--input", str(folder / "dedup.jsonl"), "--output",
                     str(folder / "train.arrow"), "--tokenizer-path", str(tokenizer), "--max-length",
                     str(MAX_LENGTH), *flags],
    }
    result = {name: run_stage(argv + common) for name, argv in stages.items()}
    stats = json.loads((folder / "dedup.jsonl.stats.json").read_text())
    result["total"] = {"seconds": round(sum(r["seconds"] for r in result.values()), 2),
                       "cpu_seconds": round(sum(r["cpu_seconds"] for r in result.values()), 2),
                       "peak_bytes": max(r["peak_bytes"] for r in result.values())}
    result["dedup_dropped"] = stats["dropped"]
    result["kept"] = stats["kept"]
    return result


def same_outputs(a: Path, b: Path) -> bool:
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in ("clean.jsonl", "dedup.jsonl", "train.arrow"))


def prefix(src: Path, dst: Path, count: int) -> Path:
    with src.open("rb") as fin, dst.open("wb") as fout:
        for _, line in zip(range(count), fin):
            fout.write(line)
    return dst


def growth(rows: dict, sizes: list[int]) -> dict:
    """Per stage, from the smallest size to the largest: the CPU seconds' and the wall time's
    ratios against the n log n ratio; the verdict is on CPU seconds, which a busy machine
    disturbs least (the wall time of a shared machine moves with its load)."""
    small, large = sizes[0], sizes[-1]
    nlogn = (large * math.log(large)) / (small * math.log(small))
    out = {}
    for stage in ("clean", "dedup", "tokenize", "total"):
        cpu = rows[large][stage]["cpu_seconds"] / max(rows[small][stage]["cpu_seconds"], 0.01)
        wall = rows[large][stage]["seconds"] / rows[small][stage]["seconds"]
        out[stage] = {"cpu_ratio": round(cpu, 2), "wall_ratio": round(wall, 2), "nlogn_ratio": round(nlogn, 2),
                      "cpu_exponent": round(math.log(cpu) / math.log(large / small), 2), "ok": cpu <= nlogn * SLACK}
    return out


def markdown(data: dict) -> str:
    base = data["engines"]["local-1"]["total"]
    lines = [describe(data["command"], data["device"]), "",
             f"{data['records']} records (~{data['mean_bytes']} bytes each; planted {data['planted']}); "
             f"dedup {'on the engine' if data['dedup_engine'] else 'in one process (no --engine flag yet)'}; "
             f"load average at the start {data['load_average']}.", "",
             "## Engines (ratios against local-1 in this run)", ""]
    rows = []
    for name, run in data["engines"].items():
        rows.append([name, *(run[s]["seconds"] for s in ("clean", "dedup", "tokenize")), run["total"]["seconds"],
                     f"{base['seconds'] / run['total']['seconds']:.2f}x", run["total"]["cpu_seconds"],
                     show_bytes(run["total"]["peak_bytes"]), f"{run['total']['peak_bytes'] / base['peak_bytes']:.2f}x",
                     run["dedup_dropped"], run["same_as_local_1"]])
    lines += table(["run", "clean s", "dedup s", "tokenize s", "total s", "speed vs local-1", "CPU s", "peak PSS",
                    "memory vs local-1", "dedup dropped", "same files"], rows)
    lines += ["", "## Scaling (local-2)", ""]
    lines += table(["records", "clean s", "dedup s", "tokenize s", "total s", "total CPU s", "dedup peak",
                    "tokenize peak"],
                   [[n, *(r[s]["seconds"] for s in ("clean", "dedup", "tokenize", "total")), r["total"]["cpu_seconds"],
                     show_bytes(r["dedup"]["peak_bytes"]), show_bytes(r["tokenize"]["peak_bytes"])]
                    for n, r in data["scaling"].items()])
    lines += ["", f"Growth from {min(data['scaling'])} to {max(data['scaling'])} records (pass: CPU seconds' ratio "
              f"<= n log n ratio x {SLACK}; start-up is in every run, so small sizes grow slower):", ""]
    lines += table(["stage", "CPU ratio", "wall ratio", "n log n ratio", "CPU exponent", "pass"],
                   [[s, g["cpu_ratio"], g["wall_ratio"], g["nlogn_ratio"], g["cpu_exponent"], g["ok"]]
                    for s, g in data["growth"].items()])
    lines += ["", f"Dedup's peak memory per added record: {data['dedup_bytes_per_record']} bytes.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000, help="records of the engine comparison")
    parser.add_argument("--sizes", default="5000,15000,50000", help="record counts of the scaling rows")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"engine runs, of {', '.join(RUNS)}")
    parser.add_argument("--out-dir", type=Path, default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    runs = [r for r in args.runs.split(",") if r != "ray-2" or loopback_only()]
    if "ray-2" in args.runs and "ray-2" not in runs:
        print("scale: ray-2 left out: interfaces other than loopback are up (run under "
              "/work/shared/netns/isolated)", file=sys.stderr)
    dedup_help = subprocess.run([str(Path(sys.executable).with_name("tunesmith")), "prep", "dedup", "--help"],
                                capture_output=True, text=True).stdout
    dedup_engine = "--engine" in dedup_help
    load = open("/proc/loadavg").read().split()[:3]
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        work = Path(tmp)
        tokenizer = work / "tokenizer"
        tests_module("tiny").make_tokenizer(tokenizer, "bos_eos")
        biggest = work / "all.jsonl"
        kinds = write_records(biggest, max(args.records, *sizes))
        src = prefix(biggest, work / "in.jsonl", args.records)
        engines = {}
        for name in runs:
            print(f"scale: {name} on {args.records} records", file=sys.stderr, flush=True)
            engines[name] = pipeline(src, work / name, RUNS[name], tokenizer, dedup_engine)
            engines[name]["planted"] = planted_in(kinds, args.records)
            engines[name]["same_as_local_1"] = same_outputs(work / runs[0], work / name)
        scaling = {}
        for n in sizes:
            print(f"scale: local-2 on {n} records", file=sys.stderr, flush=True)
            if n == args.records and "local-2" in engines:
                scaling[n] = engines["local-2"]
                continue
            scaling[n] = pipeline(prefix(biggest, work / f"in-{n}.jsonl", n), work / f"size-{n}", RUNS["local-2"],
                                  tokenizer, dedup_engine)
            scaling[n]["planted"] = planted_in(kinds, n)
            for name in ("clean.jsonl", "dedup.jsonl"):
                (work / f"size-{n}" / name).unlink()
        small, large = sizes[0], sizes[-1]
        data = {"command": command("scale", argv), "device": device_info("ray", "tokenizers", "rensa"),
                "records": args.records, "mean_bytes": round(src.stat().st_size / args.records),
                "planted": planted_in(kinds, args.records), "shares": {"exact": EXACT_SHARE, "near": NEAR_SHARE},
                "dedup_engine": dedup_engine, "load_average": load, "engines": engines, "scaling": scaling,
                "growth": growth(scaling, sizes),
                "dedup_bytes_per_record": round((scaling[large]["dedup"]["peak_bytes"] -
                                                 scaling[small]["dedup"]["peak_bytes"]) / (large - small))}
    folder = write_results("scale", data, markdown(data), args.out_dir)
    print(markdown(data))
    print(f"scale: results in {folder}", file=sys.stderr)
    return 0 if all(g["ok"] for g in data["growth"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
