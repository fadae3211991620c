"""Extract records from CSV files: one record per row, from a column, a pair of columns or a template.

Choose what a record holds with one of:
  --text-column C                       {"text": C}
  --input-column A --output-column B    {"input": A, "output": B}
  --template "{title}\\n{body}"          {"text": the template filled with the row's cells}
Add --label-column for a "label", --id-column for the id (default "<file name>:<row>"),
--keep-columns a,b to copy other cells into meta (nothing else is copied). meta also holds
the source file, the data row number and the line the row starts on.

Each file's dialect is found on its own unless --delimiter or --encoding is given: a byte-order
mark names the encoding (UTF-8, UTF-16, UTF-32; UTF-8 without one), an Excel "sep=;" first line
names the delimiter, otherwise the one (tab for .tsv, then the csv module's guess, then , ; tab |)
under which the header holds every column asked for; the stats record what each file used.
A cell is taken as text with its outer whitespace and blank lines trimmed (the indentation of a
multi-line cell's first line stays), Windows and old Mac line ends made \\n, and NFC; a cell that
is exactly one of --null-values (NULL and \\N: database exports) counts as empty.

The header is checked before any row is read: a column that is not there stops the stage
with the list of columns that are. Rows are streamed in batches of --chunk-size, so memory
stays bounded on any file size. Quoted commas, line breaks inside quotes, doubled quotes,
a UTF-8 byte-order mark and any --encoding are handled. A row whose chosen cell (or, for
--input-column/--output-column, either cell) is empty is dropped ("empty"); a template renders an
empty cell as nothing and drops a row only when every cell it names is empty. A row with the wrong number of fields, broken quoting or undecodable bytes
is counted as an error with its line number, and the rest of the file is read.
--engine and --workers are accepted as on every stage; the rows are converted in this process
(reading them is sequential, and the rest costs less than handing it over: prep/extract/serial.py).
"""
from __future__ import annotations

import unicodedata
from itertools import islice
from pathlib import Path
from typing import Callable

from prep.core.errors import StageError
from prep.core.flags import add_common, add_engine
from prep.core.records import input_files
from prep.core.stage import Stage, options_of, progress
from prep.extract.csv_rows import AUTO, CsvFile, Row, Template, template_fields
from prep.extract.serial import check_engine

CSV_SUFFIXES = (".csv", ".tsv")
DELIMITER_NAMES = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", AUTO: AUTO}


def cell(value: str) -> str:
    """A cell as text: Windows and old Mac line ends made \\n, NFC, outer whitespace off.

    A cell of several lines keeps the indentation of its first line (code, YAML, verse): only
    blank lines before it and whitespace after the text go.
    """
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if "\n" not in value.strip():
        return value.strip()
    lines = value.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def text_mode(args, index: dict[str, int], columns: list[str]) -> Callable:
    i = index[args.text_column]

    def build(fields):
        text = cell(fields[i])
        return {"text": text}, None if text else f"column {args.text_column!r} is empty"
    return build


def pair_mode(args, index: dict[str, int], columns: list[str]) -> Callable:
    i, o = index[args.input_column], index[args.output_column]

    def build(fields):
        content = {"input": cell(fields[i]), "output": cell(fields[o])}
        empty = [name for name, key in ((args.input_column, "input"), (args.output_column, "output"))
                 if not content[key]]
        return content, f"column(s) {', '.join(map(repr, empty))} empty" if empty else None
    return build


def template_mode(args, index: dict[str, int], columns: list[str]) -> Callable:
    template = Template(args.template, columns)
    used = list(dict.fromkeys(template.fields))

    def build(fields):
        # An empty cell renders empty (an optional input); a row is dropped only when every cell
        # the template names is empty. Whitespace the empty cells leave at the end goes.
        text = template.render([cell(f) for f in fields]).rstrip()
        if all(not fields[index[name]].strip() for name in used) or not text.strip():
            return {"text": text}, f"column(s) {', '.join(map(repr, used))} empty: the template gives no text"
        return {"text": text}, None
    return build


# Mode name -> builder factory; each builder maps a row's cells to (content, why-empty | None).
MODES = {"text": text_mode, "input-output": pair_mode, "template": template_mode}


def mode_of(args) -> tuple[str, list[str]]:
    """The chosen mode and the columns it reads."""
    if args.template is not None:
        return "template", []
    if args.input_column or args.output_column:
        if not (args.input_column and args.output_column):
            raise StageError("--input-column and --output-column go together: give both")
        return "input-output", [args.input_column, args.output_column]
    if args.text_column:
        return "text", [args.text_column]
    raise StageError("say what a record holds: --text-column C, --input-column A --output-column B, "
                     "or --template '{title}\\n{body}'")


def delimiter_of(value: str) -> str:
    delimiter = DELIMITER_NAMES.get(value.lower(), value)
    if delimiter != AUTO and len(delimiter) != 1:
        raise StageError(f"--delimiter {value!r}: one character expected (or one of "
                         f"{', '.join(DELIMITER_NAMES)})")
    return delimiter


def check_columns(source: CsvFile, wanted: list[str]) -> dict[str, int]:
    """Column name -> index (first of duplicates); stops naming what exists if one is missing."""
    index = {name: i for i, name in reversed(list(enumerate(source.columns)))}
    missing = [c for c in dict.fromkeys(wanted) if c not in index]
    if missing:
        # Undecodable header bytes (surrogate escapes) shown as \x.. so the message can be printed.
        names = ", ".join(source.columns).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        hint = f"; bytes that are not {source.encoding}: try --encoding" if names != ", ".join(source.columns) else ""
        raise StageError(f"{source.path}: no column {', '.join(map(repr, missing))}; its columns are: "
                         f"{names} (read with delimiter {source.delimiter!r}, "
                         f"{source.found}; --delimiter sets another{hint})")
    return index


def add_arguments(parser) -> None:
    add_common(parser, records=False, input_help="CSV file (or a folder/glob of .csv/.tsv files, read in order)",
               output_help="output JSONL file; OUT.stats.json and OUT.rejected.jsonl go beside it")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--text-column", metavar="C", help="column whose cell becomes the record's text")
    what.add_argument("--input-column", metavar="C", help="column for the input of an input/output pair "
                      "(with --output-column)")
    what.add_argument("--template", help="text built from the row, e.g. \"{title}\\n{body}\"; "
                      "\\n and \\t mean newline and tab; {{ and }} are literal braces")
    parser.add_argument("--output-column", metavar="C", help="column for the output of an input/output pair")
    parser.add_argument("--label-column", metavar="C",
                        help="column copied to the record's label (omitted when empty)")
    parser.add_argument("--id-column", metavar="C", help="column used as the record id; without it, "
                        "or where its cell is empty, the id is FILE_NAME:ROW")
    parser.add_argument("--keep-columns", metavar="A,B", default="",
                        help="comma-separated columns copied into meta")
    parser.add_argument("--delimiter", default=AUTO, help="field separator: one character, or tab, "
                        "\\t, comma, semicolon, pipe; auto: found per file (a sep= first line, tab for "
                        ".tsv, else the one under which the header holds the columns asked for)")
    parser.add_argument("--encoding", default=AUTO, help="text encoding of the files; auto: the one a "
                        "byte-order mark names (UTF-8, UTF-16, UTF-32), else UTF-8")
    parser.add_argument("--null-values", metavar="A,B", default="NULL,\\N",
                        help="comma-separated cell values that mean no value (database exports): such "
                        "a cell counts as empty; '' to turn off")
    parser.add_argument("--chunk-size", type=int, default=10000, help="rows read and converted per "
                        "batch; memory holds one batch")
    add_engine(parser)   # accepted for uniformity: rows are converted in this process (prep/extract/serial.py)


def run(args) -> int:
    check_engine(args, "extract csv")
    mode, wanted = mode_of(args)
    delimiter = delimiter_of(args.delimiter)
    if args.chunk_size < 1:
        raise StageError(f"--chunk-size {args.chunk_size}: must be at least 1")
    keep = [c.strip() for c in args.keep_columns.split(",") if c.strip()]
    extra = [c for c in (args.label_column, args.id_column) if c]
    columns = wanted + extra + keep + (template_fields(args.template) if mode == "template" else [])
    nulls = frozenset(v.strip() for v in args.null_values.split(",") if v.strip())
    files = input_files(args.input, CSV_SUFFIXES)
    with Stage("extract-csv", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        dialects = stage.extra.setdefault("dialects", {})
        for path in files:
            with CsvFile(path, delimiter, args.encoding, tuple(columns)) as source:
                dialects[str(path)] = source.dialect
                index = check_columns(source, wanted + extra + keep)
                build = MODES[mode](args, index, source.columns)
                rows = progress(source.rows(), args.quiet, desc=f"extract csv {path.name}", unit="row")
                while batch := list(islice(rows, args.chunk_size)):
                    for row in batch:
                        take_row(stage, args, path, row.without(nulls), build, index, keep)
    if not args.quiet:
        for name, used in dialects.items():
            print(f"extract csv: {name}: delimiter {used['delimiter']!r} ({used['found']}), "
                  f"encoding {used['encoding']}{' (byte-order mark)' if used['bom'] else ''}")
        print(f"extract csv: {stage.read_count} rows; {stage.kept} kept, {sum(stage.dropped.values())} "
              f"dropped, {stage.errors} errors -> {args.output}")
    return 0


def take_row(stage: Stage, args, path: Path, row: Row, build: Callable, index: dict[str, int],
             keep: list[str]) -> None:
    """Count one row: an error, a drop ("empty") or a kept record."""
    stage.read()
    where = f"{path}:{row.line}"
    if row.error is not None:
        stage.error(where, row.error, row.raw)
        return
    fields = row.fields
    content, empty = build(fields)
    given_id = cell(fields[index[args.id_column]]) if args.id_column else ""
    record = {"id": given_id or f"{path.name}:{row.number}", **content}
    label = cell(fields[index[args.label_column]]) if args.label_column else ""
    if label:
        record["label"] = label
    record["meta"] = {"source": str(path), "row": row.number, "line": row.line,
                      **{name: fields[index[name]] for name in keep}}
    if empty:
        stage.drop(record, "empty", empty, where=where)
    else:
        stage.keep(record)
