"""Run every benchmark in bench/ one after the other and list where their results went.

Each benchmark measures its own baseline in the same run and prints the ratio; results
land in bench/results/NAME.{json,md}. Extra arguments (e.g. --quick) are passed to each.
Usage: python bench/run_all.py [--quick] [--only NAME[,NAME]]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The benchmarks, in this order (bench/_common.py is what they share). train_speed and train_memory
# need a GPU for their real figures and fall back to a CPU mode with tiny configs.
ORDER = ["html_extract", "html_quality", "sql_extract", "filters", "dedup", "kmeans", "embed_speed", "tokenize_speed", "single_pass", "heads", "train_speed", "train_memory"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma list of benchmark names to run")
    args, passthrough = parser.parse_known_args(argv)
    names = [n for n in ORDER if (HERE / f"{n}.py").exists()]
    if args.only:
        wanted = set(args.only.split(","))
        names = [n for n in names if n in wanted]
    failed = []
    for name in names:
        print(f"\n=== {name} {' '.join(passthrough)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *passthrough], cwd=HERE.parent)
        print(f"=== {name}: exit {code} in {time.perf_counter() - start:.1f} s", flush=True)
        if code:
            failed.append(name)
    print(f"\nresults in {HERE / 'results'}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
