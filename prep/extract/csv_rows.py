"""Reading a CSV file row by row with the line each row starts on, and --template rendering.

Rows are streamed, so memory holds one batch of rows however large the file is. Every
row that cannot be used is still yielded, as an error with its line number: a wrong number
of fields (too many or too few), broken quoting, bytes that are not in the file's encoding.
Blank lines are skipped and not counted. Cells are strings; an empty cell is "".

pandas' own reader was not used here: its python engine drops rows with broken quoting
without calling ``on_bad_lines`` (or raises, depending on the chunk size), pads rows with
too few fields silently, and numbers bad rows by record, not by line. The standard csv
module is the tokenizer under that engine and reports all three.
"""
from __future__ import annotations

import codecs
import csv as csvlib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from prep.core.errors import StageError

# Largest cell accepted, in characters: far above any real cell, still a bound on memory
# when a stray quote makes the rest of a file one field. The csv module's default is 128 KiB.
MAX_CELL_CHARS = 1 << 26
# Raw text kept in the rejects file for a broken row.
RAW_PREVIEW_CHARS = 500
CONVERSIONS = {None: str, "s": str, "r": repr, "a": ascii}


@dataclass
class Row:
    line: int                     # 1-based line of the file where the row starts
    number: int                   # 1-based data row (header and blank lines not counted)
    fields: list[str] | None      # None for a broken row
    error: str | None = None
    raw: str | None = None


def python_encoding(name: str) -> str:
    """The codec to open a file with: UTF-8 becomes utf-8-sig so a byte-order mark is dropped."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise StageError(f"--encoding {name}: unknown encoding (try utf-8, cp1252, latin-1)") from None
    return "utf-8-sig" if codec == "utf-8" else codec


class CsvFile:
    """An open CSV file: ``columns`` (the header) is read at once, ``rows()`` streams the rest."""

    def __init__(self, path: Path, delimiter: str = ",", encoding: str = "utf-8"):
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter
        csvlib.field_size_limit(max(csvlib.field_size_limit(), MAX_CELL_CHARS))
        try:
            # surrogateescape: a bad byte becomes a marker in its row (an error for that
            # row) instead of an exception that would end the whole file.
            self.handle = open(path, newline="", encoding=python_encoding(encoding),
                               errors="surrogateescape")
        except OSError as exc:
            raise StageError(f"{path}: cannot open ({exc.strerror})") from None
        self.reader = csvlib.reader(self.handle, delimiter=delimiter, strict=True)
        try:
            self.columns = self._header()
        except StageError:
            self.handle.close()
            raise

    def __enter__(self) -> "CsvFile":
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()

    def _header(self) -> list[str]:
        try:
            for fields in self.reader:
                if fields:
                    return [name.strip() for name in fields]
        except csvlib.Error as exc:
            raise StageError(f"{self.path}:{self.reader.line_num}: cannot read the header row "
                             f"({exc})") from None
        raise StageError(f"{self.path}: empty file, no header row")

    def rows(self) -> Iterator[Row]:
        width = len(self.columns)
        start = self.reader.line_num + 1
        number = 0
        while True:
            try:
                fields = next(self.reader)
            except StopIteration:
                return
            except csvlib.Error as exc:
                number += 1
                yield Row(start, number, None, f"broken quoting: {exc}")
                start = self.reader.line_num + 1
                continue
            line, start = start, self.reader.line_num + 1
            if not fields:
                continue
            number += 1
            if len(fields) != width:
                yield Row(line, number, None, f"expected {width} fields, found {len(fields)}",
                          self.delimiter.join(fields)[:RAW_PREVIEW_CHARS])
            elif not readable(fields):
                yield Row(line, number, None, f"bytes that are not {self.encoding}; try --encoding",
                          self.delimiter.join(fields).encode("utf-8", "replace").decode()[:RAW_PREVIEW_CHARS])
            else:
                yield Row(line, number, fields)


def readable(fields: list[str]) -> bool:
    """False when a cell holds an undecodable byte (a lone surrogate left by surrogateescape)."""
    try:
        "".join(fields).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unescape(text: str) -> str:
    """A template typed on a command line: backslash-n and backslash-t mean newline and tab."""
    return text.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\0", "\\")


class Template:
    """``"{title}\\n{body}"`` over a row's columns; a column name may hold dots or spaces."""

    def __init__(self, text: str, columns: list[str]):
        self.text = unescape(text)
        try:
            pieces = list(string.Formatter().parse(self.text))
        except ValueError as exc:
            raise StageError(f"--template {text!r}: {exc} (write {{{{ and }}}} for braces)") from None
        index = {name: i for i, name in reversed(list(enumerate(columns)))}
        unknown = [f for _, f, _, _ in pieces if f is not None and f not in index]
        if unknown:
            raise StageError(f"--template names {', '.join(repr(f) for f in unknown)}, not columns of "
                             f"the file; its columns are: {', '.join(columns)}")
        for _, field, spec, conversion in pieces:
            if field is not None:
                try:
                    format(CONVERSIONS[conversion]("x"), spec)
                except (KeyError, ValueError) as exc:
                    raise StageError(f"--template field {{{field}}}: bad conversion or format "
                                     f"({exc})") from None
        self.pieces = [(literal, index.get(f), spec, CONVERSIONS[conv]) for literal, f, spec, conv in pieces]
        self.fields = [f for _, f, _, _ in pieces if f is not None]

    def render(self, fields: list[str]) -> str:
        out = []
        for literal, column, spec, convert in self.pieces:
            out.append(literal)
            if column is not None:
                out.append(format(convert(fields[column]), spec))
        return "".join(out)
