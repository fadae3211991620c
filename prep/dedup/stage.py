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
"""
from __future__ import annotations

import argparse

from prep.core.errors import StageError
from prep.core.flags import add_common
from prep.core.records import input_files, read_records, set_meta
from prep.core.shapes import main_text
from prep.core.stage import Stage, options_of
from prep.dedup.groups import Deduper, Settings
from prep.dedup.minhash import choose_bands


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
    parser.add_argument("--keep-duplicates", "--keep_duplicates", dest="keep_duplicates",
                        action="store_true",
                        help="keep every record and only mark the groups in meta (for "
                        "`split --group-key meta.dup_group`)")


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
    return Settings(threshold=args.threshold, exact_only=args.exact_only, num_perm=args.num_perm,
                    shingle=args.shingle, bands=bands, rows=rows, seed=args.seed)


def label(record: dict, index: int) -> str:
    """How a group and its kept record are named: the record's id, else its position."""
    value = record.get("id")
    return f"#{index + 1}" if value is None or isinstance(value, (dict, list)) else str(value)


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    deduper = Deduper(settings)
    records: list[dict] = []
    wheres: list[str] = []
    with Stage("dedup", args.output, options_of(args), inputs=input_files(args.input),
               quiet=args.quiet) as stage:
        for item in stage.good_reads(read_records(args.input, args.max_record_bytes), desc="dedup: read"):
            deduper.add(main_text(item.record))
            records.append(item.record)
            wheres.append(item.where)
        groups = deduper.finish(lambda i: main_text(records[i]))
        for i, record in enumerate(records):
            leader = groups.leader[i]
            set_meta(record, dup_group=label(records[leader], leader), dup_count=groups.size[leader])
            if leader == i:
                stage.keep(record)
                continue
            reason, detail = groups.explain(i, lambda j: label(records[j], j))
            set_meta(record, dup_of=label(records[leader], leader),
                     dup_similarity=round(groups.similarity[i], 4))
            if args.keep_duplicates:
                stage.keep(record)
            else:
                stage.drop(record, reason, detail, where=wheres[i])
        stage.extra.update(groups.stats)
    if not args.quiet:
        print(f"dedup: kept {stage.kept} of {stage.read_count}; "
              f"exact {groups.stats['exact_duplicates']}, near {groups.stats['near_duplicates']}, "
              f"errors {stage.errors} -> {args.output}")
    return 0

