"""Drop training records that share a long word n-gram with an eval set (--against).

A training record is contaminated when one of its text fields holds a run of --ngram words
(13, as the GPT-3 paper did) that also stands in a text field of an eval record, after the
same normalisation of both sides: NFKC, casefolded, punctuation as word separators, numbers
kept (dedup's normal_words, so one rule serves both stages). Fields are read one by one: the
prompt and the response, each chat turn, the whole text (prep.core.shapes), and for an eval
record of no known layout every string it holds but ids and meta; an n-gram never runs from
one field into the next, so words that only meet across a field boundary do not match.

Eval fields shorter than --ngram words match whole (their whole word sequence found inside a
training field) when they have at least --min-words words (8). Shorter ones never match and
are counted as too short: short questions ("What is 2+2?", "Why do veins appear blue?") are
phrases that unrelated text says too, while at 8 words a question is specific enough
("what happens to you if you eat watermelon seeds") that finding it whole is a copy.

An n-gram found in more than --ignore-common eval records (10) is the eval set's template (an
instruction or a few-shot example repeated in every prompt), not a question of its own, and is
not indexed; 0 indexes all. A question's own words stand in one eval record, or in a few where
a reading passage is shared by its questions, so 10 leaves them indexed.

The eval side is indexed once (prep/filter/ngrams.py: stable 64-bit keys, about 14 bytes per
n-gram); the training side is read in one streaming pass, a batch of records at a time.
Kept records are written unchanged. Each dropped record goes to the rejects file as
"contaminated", its detail naming the eval file:line and id it matched and the first shared
n-gram (normalised words). The stats' "against" section gives per eval file: records read,
records too short to match, fields matched whole, n-grams indexed and left out as common,
training records matched, and eval records matched (the share of the eval set that leaked).

A broken line in an eval file stops the run (exit 2) naming file:line, as does a missing eval
file: a silently smaller eval set would report less contamination than there is.
"""
from __future__ import annotations

import argparse
import time

from prep.core.atomic import file_sha256
from prep.core.errors import StageError
from prep.core.flags import add_common
from prep.core.records import input_files, read_records
from prep.core.stage import Stage, options_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, input_help="training records: JSONL/JSON file, folder or glob")
    parser.add_argument("--against", nargs="+", required=True, metavar="EVAL",
                        help="eval sets: JSONL/JSON files, folders or globs, in any record layout "
                        "(a record of no known layout gives every string it holds)")
    parser.add_argument("--ngram", type=int, default=13,
                        help="words an overlap must have to count (the GPT-3 paper's 13)")
    parser.add_argument("--min-words", "--min_words", dest="min_words", type=int, default=8,
                        help="an eval field shorter than --ngram matches whole when it has at least "
                        "this many words; shorter ones never match (counted as too short)")
    parser.add_argument("--ignore-common", "--ignore_common", dest="ignore_common", type=int, default=10,
                        metavar="K", help="leave out n-grams found in more than K eval records (a "
                        "template repeated in every eval prompt); 0 keeps them all")


def run(args: argparse.Namespace) -> int:
    if args.ngram < 1 or args.min_words < 1 or args.ignore_common < 0:
        raise StageError(f"--ngram {args.ngram} and --min-words {args.min_words} must be at least 1, "
                         f"--ignore-common {args.ignore_common} at least 0")
    # numpy and xxhash (through contamination and ngrams): off the CLI's start-up path
    from prep.filter.contamination import Batch, load_eval, settle
    began = time.perf_counter()
    evals = load_eval(args.against, args.ngram, args.min_words, args.ignore_common)
    index = evals.index
    setup = {"ngram": args.ngram, "min_words": args.min_words, "index": {
        "records": index.records, "ngrams": len(index.keys), "common_ngrams": len(index.common_owners),
        "bytes": index.nbytes, "vocabulary": len(index.vocab), "lengths": sorted(index.lengths),
        "seconds": round(time.perf_counter() - began, 3)}}
    sha256 = {name: file_sha256(name) for name in evals.files}
    with Stage("decontaminate", args.output, options_of(args), input_files(args.input), args.quiet) as stage:
        batch = Batch()
        for read in stage.good_reads(read_records(args.input, args.max_record_bytes)):
            batch.add(read)
            if batch.full():
                settle(batch, evals, stage)
                batch = Batch()
        settle(batch, evals, stage)
        stage.extra.update(setup, against=evals.summary(sha256))
    if not args.quiet:
        leaked = {name: f"{s['contaminated']} of {s['records']}" for name, s in stage.extra["against"].items()}
        print(f"decontaminate: kept {stage.kept} of {stage.read_count}; dropped {dict(stage.dropped)}; "
              f"errors {stage.errors}; eval records matched: {leaked} -> {args.output}")
    return 0
