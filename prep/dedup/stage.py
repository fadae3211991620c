"""Drop exact and near duplicates; keep the first record of each group.

Exact duplicates share the same normalised text (NFKC, casefolded, punctuation and
whitespace ignored) of the record's words: the text, input plus output, or all message
turns. Near duplicates are found with MinHash over word shingles and LSH banding, and every
candidate pair is then checked by the exact Jaccard similarity of its two shingle sets, so a
pair is joined only when it truly reaches --threshold. Joined pairs form groups (transitively);
the first record of a group in input order is kept and carries meta.dup_group (the kept
record's id, or #N for the N-th record when it has none) and meta.dup_count (the group size);
every other member goes to the rejects file as exact-duplicate or near-duplicate, naming the
kept record and the similarity. All records are read before any is written.

The input is read three times and no text is held: (1) every good record's exact key and MinHash
signature, computed in batches on the engine (--engine local --workers N, or Ray), in input order
by ordinal; then LSH candidate pairs among the signatures (prep.dedup.bands); (2) the shingle sets
of the records in candidate pairs only, to check each pair by its exact Jaccard and join groups;
(3) the records again, each kept or dropped by its group. The output, the rejects and the stats
are the same whichever engine signed the records.
"""
from __future__ import annotations

import argparse
from typing import Iterator

import numpy as np

from prep.core.engine import batches, open_engine
from prep.core.errors import StageError
from prep.core.flags import add_common, add_engine
from prep.core.records import input_files, read_records, set_meta
from prep.core.shapes import main_text
from prep.core.stage import Stage, not_text, options_of, progress
from prep.core.work import Work
from prep.dedup.groups import BATCH_TEXTS, Deduper, Groups, Settings
from prep.dedup.minhash import choose_bands, rensa_version
from prep.dedup.shingles import shingle_sets
from prep.dedup.work import decode, signer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--threshold", type=float, default=0.8,
                        help="Jaccard similarity of shingle sets at or above which two records are "
                        "near duplicates (0 < T <= 1)")
    parser.add_argument("--exact-only", "--exact_only", dest="exact_only", action="store_true",
                        help="only drop exact duplicates (normalised text); skip MinHash")
    parser.add_argument("--num-perm", "--num_perm", dest="num_perm", type=int, default=128,
                        help="MinHash permutations per record (signature length)")
    parser.add_argument("--shingle", type=int, default=5,
                        help="words per shingle; texts under twice this many words use "
                        "5-character shingles")
    parser.add_argument("--bands", type=int, default=None,
                        help="LSH bands (None: chosen from --threshold and --num-perm to "
                        "minimise the weighted false positive and false negative areas)")
    parser.add_argument("--rows", type=int, default=None,
                        help="signature rows per LSH band (None: chosen with --bands; "
                        "num-perm // bands when only --bands is given)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the MinHash permutations")
    parser.add_argument("--signatures", choices=("auto", "numpy", "rensa"), default="auto",
                        help="MinHash engine: numpy (always there) or rensa (Rust, ~4x faster per "
                        "signature; pip install rensa); auto: rensa where installed; the one used "
                        "is in the stats")
    parser.add_argument("--keep-duplicates", "--keep_duplicates", dest="keep_duplicates",
                        action="store_true",
                        help="keep every record and only mark the groups in meta (for "
                        "`split --group-key meta.dup_group`)")
    add_engine(parser)


def settings_of(args: argparse.Namespace) -> Settings:
    """Checked settings; a bad combination stops with what is allowed."""
    if not 0.0 < args.threshold <= 1.0:
        raise StageError(f"--threshold {args.threshold}: must be in (0, 1]")
    if args.num_perm < 1 or args.shingle < 1:
        raise StageError("--num-perm and --shingle must be at least 1")
    bands, rows = args.bands, args.rows
    if bands is None and rows is None:
        bands, rows = choose_bands(args.threshold, args.num_perm)
    elif bands is None or rows is None:
        given = bands if bands is not None else rows
        if given < 1:
            raise StageError("--bands and --rows must be at least 1")
        bands, rows = (given, args.num_perm // given) if rows is None else (args.num_perm // given, given)
    if bands < 1 or rows < 1 or bands * rows > args.num_perm:
        raise StageError(f"--bands {bands} x --rows {rows} must be at least 1 each and use at most "
                         f"--num-perm {args.num_perm} signature values")
    engine = args.signatures
    if engine == "auto":
        engine = "rensa" if rensa_version() else "numpy"
    elif engine == "rensa" and not rensa_version():
        raise StageError("--signatures rensa needs rensa (pip install rensa; pinned in constraints.txt); "
                         "--signatures numpy needs nothing more")
    return Settings(threshold=args.threshold, exact_only=args.exact_only, num_perm=args.num_perm,
                    shingle=args.shingle, bands=bands, rows=rows, seed=args.seed, signatures=engine)


def label(record: dict, index: int) -> str:
    """How a group and its kept record are named: the record's id, else its position."""
    value = record.get("id")
    return f"#{index + 1}" if value is None or isinstance(value, (dict, list)) else str(value)


def good_records(args) -> Iterator[tuple[int, dict]]:
    """(ordinal, record) of each good record, as ``Stage.good_reads`` would yield them."""
    reads = read_records(args.input, args.max_record_bytes)
    good = (item.record for item in reads if item.error is None and not_text(item.record) is None)
    return enumerate(good)


def sign(stage: Stage, args, settings: Settings) -> Deduper:
    """Pass 1: every good record's exact key and signature, computed where ``args`` say."""
    deduper = Deduper(settings)
    reads = progress(read_records(args.input, args.max_record_bytes), stage.quiet, desc="dedup: sign",
                     unit="rec")
    with open_engine(Work(signer, settings), args, stage.quiet) as judged:
        for _, verdicts, _ in judged(batches(reads, BATCH_TEXTS)):
            if verdicts:
                deduper.add_signed(*decode([line for _, _, line in verdicts], settings))
    return deduper


def check(args, deduper: Deduper, settings: Settings) -> tuple[Groups, dict[int, str]]:
    """Pass 2: the shingle sets (and names) of the records in candidate pairs; the groups."""
    pairs = deduper.candidates()
    needed = set(pairs.ravel().tolist())
    shingles: dict[int, np.ndarray] = {}
    names: dict[int, str] = {}
    texts: dict[int, str] = {}   # a batch of them, hashed together

    def flush() -> None:
        shingles.update(zip(texts, shingle_sets(list(texts.values()), settings.shingle)))
        texts.clear()

    if needed:
        for i, record in good_records(args):
            if i in needed:
                texts[i] = main_text(record)
                names[i] = label(record, i)
                if len(texts) >= BATCH_TEXTS:
                    flush()
        flush()
    if len(shingles) != len(needed):
        raise StageError(f"{args.input} changed while dedup read it: read it again")
    return deduper.finish(pairs, shingles), names


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with Stage("dedup", args.output, options_of(args), inputs=input_files(args.input),
               quiet=args.quiet) as stage:
        deduper = sign(stage, args, settings)
        groups, names = check(args, deduper, settings)
        written = write(stage, args, groups, names)
        if written != len(groups.leader):
            raise StageError(f"{args.input} changed while dedup read it ({len(groups.leader)} good records, "
                             f"then {written}): read it again")
        stage.extra.update(groups.stats)
    if not args.quiet:
        print(f"dedup: kept {stage.kept} of {stage.read_count}; "
              f"exact {groups.stats['exact_duplicates']}, near {groups.stats['near_duplicates']}, "
              f"errors {stage.errors} -> {args.output}")
    return 0


def write(stage: Stage, args, groups: Groups, names: dict[int, str]) -> int:
    """Pass 3: each record kept or dropped by its group, in input order; the records seen."""
    seen = 0
    for i, item in enumerate(stage.good_reads(read_records(args.input, args.max_record_bytes),
                                              desc="dedup: write")):
        seen = i + 1
        if i >= len(groups.leader):
            continue   # counted as read; the check after this pass reports the change
        record, leader = item.record, int(groups.leader[i])
        if groups.wordless[i] and not args.keep_duplicates:
            stage.drop(record, "empty", f"no words to compare (keys: {', '.join(map(str, record))})",
                       where=item.where)
            continue
        if leader == i:
            name = label(record, i)
            if groups.size[i] > 1:
                names.setdefault(i, name)   # a leader comes before its members: named for them
            set_meta(record, dup_group=name, dup_count=int(groups.size[i]))
            stage.keep(record)
            continue
        set_meta(record, dup_group=names[leader], dup_count=int(groups.size[leader]))
        reason, detail = groups.explain(i, names.__getitem__)
        set_meta(record, dup_of=names[leader], dup_similarity=round(float(groups.similarity[i]), 4))
        if args.keep_duplicates:
            stage.keep(record)
        else:
            stage.drop(record, reason, detail, where=item.where)
    return seen
