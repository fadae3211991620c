"""`prep cluster` at scale: peak memory of the whole process tree and wall time, before and after.

Sides, each run as a separate `tunesmith prep cluster` process (fast TF-IDF embedder, k=20):
- before: the stage as it was at ``--baseline`` (a commit; `git archive` of prep/ and train/
  into a temporary folder put first on sys.path), which held every record, text and vector
  in memory and fitted the LSA and k-means on all of them;
- after: this tree (streaming embedding pass, float16 vectors on disk, LSA and k-means fitted
  on samples, streaming assignment).
Inputs resample the real records of tests/data under fresh ids (~1.3 KB a line). Peak RSS is
the largest sum of the resident memory of the process and all its children, polled every
0.1 s (psutil). Bytes per record = (peak at the largest n - peak at the smallest n) / (their
difference in records): the fixed cost of the interpreter and libraries drops out.

MiniLM is not run at these sizes: ``--minilm N`` times it on N records to give its cost per
record (1M records at that rate is hours on 2 cores).

    .venv/bin/python bench/cluster_scale.py --sizes 100000,300000 --before-sizes 25000,100000
    .venv/bin/python bench/cluster_scale.py --sizes 1000000 --before-sizes ""   # ~20 min here
    .venv/bin/python bench/cluster_scale.py --sizes "" --before-sizes "" --minilm 2000 --name cluster_minilm
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import command, describe, device_info, show_bytes, table, write_results

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SOURCES = [*sorted((DATA / "layouts").glob("*.json*")), *sorted((DATA / "code").glob("*.jsonl")),
           DATA / "filters" / "quality" / "records.jsonl"]
RUNNER = "import sys; sys.path.insert(0, sys.argv.pop(1)); from train.cli import main; sys.exit(main(sys.argv[1:]))"


def make_input(path: Path, records: int, seed: int = 0) -> Path:
    from prep.core.records import read_records
    rest = [{k: v for k, v in item.record.items() if k != "id"}
            for source in SOURCES for item in read_records(source) if item.error is None]
    # each line: a fresh id, then the real record's other fields as they were (JSON after its "{")
    pool = [json.dumps(fields, ensure_ascii=False)[1:] for fields in rest if fields]
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for n in range(records):
            out.write(f'{{"id": "r{n}", {rng.choice(pool)}\n')
    return path


def tree_rss(process) -> int:
    import psutil
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:  # a child that ended between the listing and the reading
            pass
    return total


def measure(tree: Path, src: Path, out: Path, flags: list[str]) -> dict:
    """Wall seconds and peak RSS of the process tree of one `prep cluster` run from ``tree``."""
    import psutil
    argv = [sys.executable, "-c", RUNNER, str(tree), "prep", "cluster", "--input", str(src), "--output", str(out),
            "--quiet", *flags]
    start = time.perf_counter()
    child = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        peak = max(peak, tree_rss(process))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    err = child.stderr.read()
    if child.returncode != 0:
        raise SystemExit(f"prep cluster failed ({child.returncode}) from {tree}:\n{err[-2000:]}")
    return {"seconds": round(wall, 1), "peak_rss": peak}


def per_record(rows: list[dict]) -> int | None:
    if len(rows) < 2:
        return None
    low, high = rows[0], rows[-1]
    return round((high["peak_rss"] - low["peak_rss"]) / (high["records"] - low["records"]))


def minilm_cost(folder: Path, records: int) -> dict | None:
    from prep.embed import minilm_available
    if not records or not minilm_available():
        return None
    src = make_input(folder / "minilm.jsonl", records, seed=1)
    run = measure(ROOT, src, folder / "minilm-out.jsonl", ["--clusters", "5", "--embedder", "minilm"])
    return {"records": records, **run, "ms_per_record": round(1000 * run["seconds"] / records, 2)}


def run(args) -> dict:
    flags = ["--clusters", str(args.clusters), "--embedder", "tfidf", *args.flag]
    with tempfile.TemporaryDirectory(prefix="cluster-scale-", dir=args.scratch) as tmp:
        folder = Path(tmp)
        baseline = folder / "baseline"
        baseline.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "prep", "train"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True)
        sides = {"before": (baseline, args.before_sizes), "after": (ROOT, args.sizes)}
        results: dict = {"before": [], "after": []}
        load_before = os.getloadavg()[0]
        for size in sorted(set(args.sizes) | set(args.before_sizes)):
            src = make_input(folder / f"in-{size}.jsonl", size)
            for side, (tree, sizes) in sides.items():
                if size in sizes:
                    row = {"records": size, **measure(tree, src, folder / f"{side}-{size}.jsonl", flags)}
                    row["bytes_per_record_total"] = round(row["peak_rss"] / size)
                    results[side].append(row)
                    print(side, row, file=sys.stderr)
            src.unlink()
        minilm = minilm_cost(folder, args.minilm)
    same = sorted(set(args.sizes) & set(args.before_sizes))
    return {"benchmark": "cluster_scale", "baseline": args.baseline, "flags": flags, **results,
            "bytes_per_record": {side: per_record(rows) for side, rows in results.items()},
            "ratios_at": {str(n): {"peak_rss": round(b["peak_rss"] / a["peak_rss"], 2),
                                   "seconds": round(b["seconds"] / a["seconds"], 2)}
                          for n in same for b in results["before"] for a in results["after"]
                          if b["records"] == a["records"] == n},
            "minilm": minilm, "load_average_1min": {"before": round(load_before, 2),
                                                     "after": round(os.getloadavg()[0], 2)},
            "device": device_info("torch", "numpy"), "command": command("cluster_scale")}


def markdown(r: dict) -> str:
    lines = ["# prep cluster at scale: peak RSS of the process tree and wall time", "",
             describe(r["command"], r["device"]), "",
             f"Flags: `{' '.join(r['flags'])}`; before = `{r['baseline']}`. 1-minute load average "
             f"{r['load_average_1min']['before']} before, {r['load_average_1min']['after']} after "
             "(the machine is shared: wall times carry that load).", ""]
    rows = [(side, f"{row['records']:,}", show_bytes(row["peak_rss"]), row["seconds"],
             f"{row['bytes_per_record_total']:,}") for side in ("before", "after") for row in r[side]]
    if rows:
        lines += table(["side", "records", "peak RSS", "seconds", "peak / records (B)"], rows)
        lines += ["", "Growth of the peak per record between the smallest and largest n: "
                  + ", ".join(f"{side} {value:,} B" for side, value in r["bytes_per_record"].items()
                              if value is not None),
                  "", "A flat peak means the fixed-size fits set it (the LSA on at most 20,000 texts, k-means on "
                  "at most 50,000 rows): what each record adds (ids, labels, distances, ~100 B) stays below.", ""]
    for n, ratio in r["ratios_at"].items():
        lines.append(f"At {int(n):,} records: before / after = {ratio['peak_rss']}x the memory, "
                     f"{ratio['seconds']}x the time.")
    if r["minilm"]:
        m = r["minilm"]
        lines += ["", f"MiniLM (whole stage, {m['records']:,} records): {m['seconds']} s, {m['ms_per_record']} ms "
                  f"a record: 1M records would take about {m['ms_per_record'] * 1e6 / 3.6e6:.1f} h here."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000", help="record counts for the current code, comma-separated")
    parser.add_argument("--before-sizes", default="50000,100000", help="record counts for the baseline (slower, "
                        "and ~30 KB a record: 1M would need ~30 GB)")
    parser.add_argument("--baseline", default="c02b97a", help="the commit whose prep/ and train/ are 'before'")
    parser.add_argument("--clusters", type=int, default=20, help="k")
    parser.add_argument("--flag", action="append", default=[], help="another flag for both sides (repeatable)")
    parser.add_argument("--minilm", type=int, default=0, help="also time MiniLM on this many records (0: no)")
    parser.add_argument("--scratch", default=None, help="folder for the inputs (1M records: ~1.3 GB)")
    parser.add_argument("--name", default="cluster_scale", help="results file name under bench/results/")
    args = parser.parse_args()
    args.sizes = [int(v) for v in args.sizes.split(",") if v]
    args.before_sizes = [int(v) for v in args.before_sizes.split(",") if v]
    result = run(args)
    write_results(args.name, result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
