"""show tokenized examples with the trained part marked, and check every row of an Arrow file
(a preference file made with --task preference: prep/tokenize/preference/inspect.py)

Prints -n decoded examples: the masked part (label -100, not trained) dimmed on a terminal
or wrapped in [[...]] otherwise, the trained part as is. Then checks every row: labels as
long as input_ids, each label -100 or the token at its position, not fully masked, the
length column right, within --max-length, ending with EOS (a trained EOS where part of the
row is masked; packed blocks and texts cut at the maximum may end anywhere), no double BOS.
Exit status 1, with the failing rows and checks, when anything fails; 0 otherwise.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from prep.core.errors import StageError
from prep.tokenize.arrow_io import read_arrow, read_metadata
from prep.tokenize.checks import CHECKS, Context, Row, check_row, trained_eos
from prep.tokenize.masking import IGNORE, detect_specials
from prep.tokenize.preference.inspect import run_preference

# Failing rows listed in full; beyond that only the counts per check are printed.
MAX_LISTED = 50
# Rows pulled from the dataset per iteration step (bounded memory on large files).
READ_BATCH = 1000
DIM, RESET = "\x1b[2m", "\x1b[0m"


def add_arguments(parser) -> None:
    parser.add_argument("file", type=Path, help="Arrow file (IPC stream or file) or folder of .arrow shards")
    parser.add_argument("--tokenizer-path", "--tokenizer_path", "--tokenizer", dest="tokenizer_path",
                        required=True, help="the tokenizer the file was made with (for decoding and EOS/BOS)")
    parser.add_argument("-n", "--num-examples", "--num_examples", dest="n", type=int, default=3,
                        help="examples to print decoded (0: only the checks)")
    parser.add_argument("--max-length", "--max_length", dest="max_length", type=int, default=None,
                        help="longest allowed row; default: the max length stored by prep tokenize, if any")
    parser.add_argument("--plain", action="store_true",
                        help="mark the masked part with [[...]] even on a terminal (no colours)")


def segments(ids: list[int], labels: list[int]) -> list[tuple[bool, list[int]]]:
    """Runs of consecutive tokens that are all trained or all masked: [(trained, ids)]."""
    runs: list[tuple[bool, list[int]]] = []
    for token, label in zip(ids, labels):
        trained = label != IGNORE
        if runs and runs[-1][0] == trained:
            runs[-1][1].append(token)
        else:
            runs.append((trained, [token]))
    return runs


def render(ids: list[int], labels: list[int], tokenizer, colour: bool) -> str:
    parts = []
    for trained, run in segments(ids, labels):
        text = tokenizer.decode(run, skip_special_tokens=False)
        if trained:
            parts.append(text)
        else:
            parts.append(f"{DIM}{text}{RESET}" if colour else f"[[{text}]]")
    return "".join(parts)


def show_examples(dataset, n: int, tokenizer, colour: bool) -> None:
    legend = "dimmed" if colour else "[[...]]"
    for index in range(min(n, len(dataset))):
        row = dataset[index]
        trained = sum(1 for label in row["labels"] if label != IGNORE)
        print(f"--- example {index}: {len(row['input_ids'])} tokens, {trained} trained "
              f"(masked part {legend}) ---")
        print(render(row["input_ids"], row["labels"], tokenizer, colour))
    if n:
        print()


def context_for(args, tokenizer) -> Context:
    stored = read_metadata(args.file)
    if stored.get("eos_id") not in (None, tokenizer.eos_token_id):
        print(f"inspect: warning: the file was made with EOS {stored['eos_id']}, this tokenizer's EOS is "
              f"{tokenizer.eos_token_id}: is it the same tokenizer?", file=sys.stderr)
    max_length = args.max_length if args.max_length is not None else stored.get("max_length")
    # The BOS the tokenizer really adds (found by encoding a probe), not the one it names.
    prefix = detect_specials(tokenizer).prefix
    return Context(eos_id=tokenizer.eos_token_id, bos_id=prefix[0] if prefix else None,
                   max_length=max_length, packed=bool(stored.get("packed")))


def check_all(dataset, ctx: Context):
    """(failures [(row, check, problem)], tokens, trained tokens, lengths, trained EOS per row)."""
    failures, tokens, trained, lengths, eos = [], 0, 0, [], Counter()
    has_length = "length" in dataset.column_names
    index = 0
    for batch in dataset.iter(batch_size=READ_BATCH):
        for i, (ids, labels) in enumerate(zip(batch["input_ids"], batch["labels"])):
            row = Row(ids, labels, batch["length"][i] if has_length else None)
            failures.extend((index, name, problem) for name, problem in check_row(row, ctx))
            tokens += len(ids)
            trained += len(labels) - labels.count(IGNORE)
            lengths.append(len(ids))
            eos[trained_eos(row, ctx)] += 1
            index += 1
    return failures, tokens, trained, lengths, eos


def summary(dataset, ctx: Context, failures, tokens: int, trained: int, lengths: list[int], eos: Counter) -> None:
    rows = len(dataset)
    share = f"{100 * trained / tokens:.1f}%" if tokens else "-"
    print(f"rows {rows}, tokens {tokens}, trained tokens {trained} ({share})")
    if lengths:
        ordered = sorted(lengths)
        print(f"length min {ordered[0]}, median {ordered[len(ordered) // 2]}, max {ordered[-1]}"
              + (f" (limit {ctx.max_length})" if ctx.max_length is not None else ""))
    # One per answer: 1 for a pair, one per assistant turn in a chat; 0 for a text cut at max length
    # (it does not end there, so it gets no EOS) and for packed blocks that fall between documents.
    print("trained EOS per row: " + ", ".join(f"{n} in {rows} rows" for n, rows in sorted(eos.items())))
    by_check = Counter(name for _, name, _ in failures)
    for name in CHECKS:
        print(f"  {name:<16} {'ok' if not by_check[name] else f'{by_check[name]} rows FAIL'}")


def run(args) -> int:
    # transformers, jinja2, concurrent: imported here to keep them off the CLI's start-up path
    from prep.tokenize.encode import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer_path)
    dataset = read_arrow(args.file)
    if "prompt_input_ids" in dataset.column_names:   # written by `prep tokenize --task preference`
        prefix = detect_specials(tokenizer).prefix
        return run_preference(args, tokenizer, dataset, read_metadata(args.file), prefix[0] if prefix else None)
    missing = [c for c in ("input_ids", "labels") if c not in dataset.column_names]
    if missing:
        raise StageError(f"{args.file}: no column {', '.join(missing)}; columns: {', '.join(dataset.column_names)}")
    ctx = context_for(args, tokenizer)
    stored = read_metadata(args.file)
    print(f"made with: prompt format {stored.get('prompt_format', 'not recorded')}, system prompt "
          f"{stored.get('system_prompt', 'not recorded')!s}, mode {stored.get('mode', 'not recorded')}, "
          f"max length {stored.get('max_length', 'not recorded')}")
    show_examples(dataset, args.n, tokenizer, colour=sys.stdout.isatty() and not args.plain)
    failures, tokens, trained, lengths, eos = check_all(dataset, ctx)
    summary(dataset, ctx, failures, tokens, trained, lengths, eos)
    if not failures:
        print("all checks passed")
        return 0
    print(f"{len({row for row, _, _ in failures})} rows fail:")
    for row, name, problem in failures[:MAX_LISTED]:
        print(f"  row {row}: {name}: {problem}")
    if len(failures) > MAX_LISTED:
        print(f"  ... and {len(failures) - MAX_LISTED} more")
    return 1
