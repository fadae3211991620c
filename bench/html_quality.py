"""Main-text quality of the HTML extractors on real pages with hand-made ground truth.

    .venv/bin/python bench/html_quality.py [--set tests/data/html] [--out bench/results]

Runs the three `prep extract html` extractors on every page of the set (tests/data/html: real
news and blog pages from public extraction benchmarks, see its SOURCES.md) in the same run:
bs4 (the project's own rules, the former default), trafilatura, and auto (the default:
trafilatura, the rules where trafilatura keeps nothing or clearly less). For each page it
scores the text against the ground truth with bag-of-tokens precision, recall and F1
(prep/extract/html/quality.py), counts empty outputs, and notes which extractor auto used.
Overall figures are means over pages (each page weighs the same, as the public benchmarks
report them) and, beside them, token totals over the whole set. Speed: CPU seconds for the
set, best of --repeat rounds. Writes bench/results/html_quality.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import describe, device_info, write_results

from prep.extract.html.blocks import page_text
from prep.extract.html.choose import auto_extract, trafilatura_extract
from prep.extract.html.quality import load_set, score, tokens

ROOT = Path(__file__).resolve().parents[1]

EXTRACTORS = {"bs4": page_text, "trafilatura": trafilatura_extract, "auto": auto_extract}
BASELINE = "bs4"


def run(extract, pages: list[bytes], repeat: int) -> tuple[list, float]:
    """The pages an extractor returns, and its best CPU time over ``repeat`` rounds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        results = [extract(data) for data in pages]
        best = min(best, time.process_time() - start)
    return results, best


def summary(rows: list[dict], name: str, seconds: float) -> dict:
    """Mean P/R/F1 over pages, token-total P/R/F1, empty pages and speed for one extractor."""
    n = len(rows)
    cells = [row[name] for row in rows]
    matched = sum(c["matched"] for c in cells)
    got, want = sum(c["tokens"] for c in cells), sum(row["truth_tokens"] for row in rows)
    micro_p, micro_r = matched / got if got else 0.0, matched / want if want else 0.0
    return {"precision": round(sum(c["precision"] for c in cells) / n, 4),
            "recall": round(sum(c["recall"] for c in cells) / n, 4),
            "f1": round(sum(c["f1"] for c in cells) / n, 4),
            "token_total_f1": round(2 * micro_p * micro_r / (micro_p + micro_r), 4) if matched else 0.0,
            "empty_pages": sum(c["tokens"] == 0 for c in cells),
            "cpu_seconds": round(seconds, 3), "pages_per_s": round(n / seconds, 1) if seconds else None}


def cell(page, truth: str) -> dict:
    got, want = tokens(page.text), tokens(truth)
    result = score(page.text, truth)
    return {"precision": round(result.precision, 4), "recall": round(result.recall, 4),
            "f1": round(result.f1, 4), "tokens": sum(got.values()), "matched": sum((got & want).values()),
            "extractor": page.extractor}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=ROOT / "tests" / "data" / "html",
                        help="ground-truth set: pages/*.html with truth/ files or truth.json")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    parser.add_argument("--repeat", type=int, default=2, help="timed rounds per extractor; the best counts")
    parser.add_argument("--quick", action="store_true", help="one timed round (the scores do not change)")
    args = parser.parse_args()

    samples = load_set(args.set)
    pages = [s.page.read_bytes() for s in samples]
    rows = [{"page": s.name, "truth_tokens": sum(tokens(s.truth).values())} for s in samples]
    overall = {}
    for name, extract in EXTRACTORS.items():
        results, seconds = run(extract, pages, 1 if args.quick else args.repeat)
        for row, page, sample in zip(rows, results, samples):
            row[name] = cell(page, sample.truth)
        overall[name] = summary(rows, name, seconds)
    auto_used = {}
    for row in rows:
        auto_used[row["auto"]["extractor"]] = auto_used.get(row["auto"]["extractor"], 0) + 1
    import trafilatura

    report = {"benchmark": "html_quality", "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "device": device_info(trafilatura=trafilatura.__version__),
              "set": str(args.set.resolve().relative_to(ROOT)) if args.set.resolve().is_relative_to(ROOT)
              else str(args.set), "pages": len(rows), "overall": overall, "auto_used": auto_used,
              "f1_gain_over_baseline": round(overall["auto"]["f1"] - overall[BASELINE]["f1"], 4),
              "rows": rows}
    write_results("html_quality", report, markdown(report), args.out)
    print("\n".join(f"html_quality: {name}: F1 {o['f1']:.3f} (P {o['precision']:.3f}, R {o['recall']:.3f}), "
                    f"token-total F1 {o['token_total_f1']:.3f}, {o['empty_pages']} empty, {o['pages_per_s']} "
                    "pages/s" for name, o in overall.items()))
    print(f"html_quality: {len(rows)} pages; auto / {BASELINE} F1 x"
          f"{overall['auto']['f1'] / overall[BASELINE]['f1']:.3f}; auto used {auto_used}")
    return 0


def markdown(report: dict) -> str:
    o = report["overall"]
    lines = ["# html_quality benchmark", "", describe(report["command"], report["device"]), "",
             f"{report['pages']} real pages with hand-made main text ({report['set']}, sources in its "
             "SOURCES.md). Bag-of-tokens precision, recall and F1 of each extractor's text against the "
             "ground truth, averaged over pages; token-total F1 pools the tokens of all pages. Speed: "
             "CPU time for the whole set, best of the timed rounds.", "",
             "| extractor | F1 | precision | recall | token-total F1 | empty pages | pages/s |",
             "|---|---|---|---|---|---|---|"]
    for name, row in o.items():
        lines.append(f"| {name} | {row['f1']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{row['token_total_f1']:.3f} | {row['empty_pages']} | {row['pages_per_s']} |")
    lines += ["", f"auto used: {', '.join(f'{k} on {v} pages' for k, v in sorted(report['auto_used'].items()))}; "
              f"F1 gain over {BASELINE}: {report['f1_gain_over_baseline']:+.3f}.", "",
              "| page | truth tokens | " + " | ".join(f"{n} F1" for n in o) + " | auto used |",
              "|---|---|" + "---|" * len(o) + "---|"]
    for row in report["rows"]:
        lines.append(f"| {row['page']} | {row['truth_tokens']} | "
                     + " | ".join(f"{row[n]['f1']:.3f}" for n in o) + f" | {row['auto']['extractor']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
