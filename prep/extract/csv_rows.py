"""Reading a CSV file row by row with the line each row starts on, and --template rendering.

Rows are streamed, so memory holds one batch of rows however large the file is. Every
row that cannot be used is still yielded, as an error with its line number: a wrong number
of fields (too many or too few), broken quoting, bytes that are not in the file's encoding.
Blank lines are skipped and not counted. Cells are strings; an empty cell is "".

The dialect is found per file unless given: a byte-order mark names the encoding (Excel's
"Unicode text" export is UTF-16), an Excel ``sep=;`` first line names the delimiter, else it is
the first of (tab for .tsv, the Sniffer's guess, , ; tab |) whose header has the columns asked for.

pandas' own reader was not used here: its python engine drops rows with broken quoting
without calling ``on_bad_lines`` (or raises, depending on the chunk size), pads rows with
too few fields silently, and numbers bad rows by record, not by line. The standard csv
module is the tokenizer under that engine and reports all three.
"""
from __future__ import annotations

import codecs
import csv as csvlib
import io
import re
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from prep.core.errors import StageError

# Largest cell accepted, in characters: far above any real cell, still a bound on memory
# when a stray quote makes the rest of a file one field. The csv module's default is 128 KiB.
MAX_CELL_CHARS = 1 << 26
RAW_PREVIEW_CHARS = 500           # raw text kept in the rejects file for a broken row (characters)
CONVERSIONS = {None: str, "s": str, "r": repr, "a": ascii}
AUTO = "auto"
DELIMITERS = ",;\t|"              # tried in this order after the suffix's and the Sniffer's guess
SNIFF_CHARS = 64 * 1024           # text read to find the dialect (characters): header and some rows
# UTF-32 before UTF-16: the UTF-32-LE mark starts with the UTF-16-LE one.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
SEP_LINE = re.compile(r"sep=(.)(\r\n|\n|\r|$)")


@dataclass
class Row:
    line: int                     # 1-based line of the file where the row starts
    number: int                   # 1-based data row (header and blank lines not counted)
    fields: list[str] | None      # None for a broken row
    error: str | None = None
    raw: str | None = None

    def without(self, nulls: frozenset) -> "Row":
        """This row with every cell that is exactly a null marker (once trimmed) made empty."""
        if not nulls or self.fields is None:
            return self
        return replace(self, fields=["" if field.strip() in nulls else field for field in self.fields])


def python_encoding(name: str) -> str:
    """The codec to open a file with: UTF-8 becomes utf-8-sig so a byte-order mark is dropped."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise StageError(f"--encoding {name}: unknown encoding (try auto, utf-8, cp1252, latin-1)") from None
    return "utf-8-sig" if codec == "utf-8" else codec


def bom_encoding(path: Path) -> str | None:
    """The codec a byte-order mark at the start of ``path`` names, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise StageError(f"{path}: cannot open ({exc.strerror})") from None
    return next((name for bom, name in BOMS if head.startswith(bom)), None)


def first_row(sample: str, delimiter: str) -> list[str]:
    """The header ``sample`` gives under ``delimiter`` (stripped names), or [] if it cannot be read."""
    try:
        for fields in csvlib.reader(io.StringIO(sample, newline=""), delimiter=delimiter, strict=True):
            if fields:
                return [name.strip() for name in fields]
    except csvlib.Error:
        pass   # the sample may end inside a quoted cell; only the first row matters
    return []


def guess_delimiter(path: Path, sample: str, wanted: list[str]) -> str:
    """The first candidate whose header holds every wanted column; else the likeliest one."""
    order = ["\t"] if path.suffix.lower() == ".tsv" else []
    try:
        order.append(csvlib.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter)
    except csvlib.Error:
        pass   # no consistent guess: the fixed order below decides
    order = list(dict.fromkeys(order + list(DELIMITERS)))
    for delimiter in order:
        header = first_row(sample, delimiter)
        if header and all(name in header for name in wanted):
            return delimiter
    return order[0]


class CsvFile:
    """An open CSV file: ``columns`` (the header) is read at once, ``rows()`` streams the rest.

    ``delimiter`` and ``encoding`` may be "auto"; ``wanted`` (the columns the caller needs) picks
    an automatic delimiter; ``dialect`` says what was used and how it was found.
    """

    def __init__(self, path: Path, delimiter: str = AUTO, encoding: str = AUTO, wanted: tuple = ()):
        self.path = path
        bom = bom_encoding(path)
        codec = (bom or "utf-8-sig") if encoding.lower() == AUTO else python_encoding(encoding)
        self.encoding = "utf-8" if codec == "utf-8-sig" else codec
        csvlib.field_size_limit(max(csvlib.field_size_limit(), MAX_CELL_CHARS))
        try:
            # surrogateescape: a bad byte becomes a marker in its row (an error for that
            # row) instead of an exception that would end the whole file.
            self.handle = open(path, newline="", encoding=codec, errors="surrogateescape")
        except OSError as exc:
            raise StageError(f"{path}: cannot open ({exc.strerror})") from None
        try:
            self._find_dialect(delimiter, list(wanted))
            self.reader = csvlib.reader(self.handle, delimiter=self.delimiter, strict=True)
            self.columns = self._header()
        except (StageError, UnicodeError) as exc:
            self.handle.close()
            if isinstance(exc, UnicodeError):   # a UTF-16/32 file cut in the middle of a character
                raise StageError(f"{path}: not {self.encoding} text ({exc.reason}); try --encoding") from None
            raise
        self.dialect = {"delimiter": self.delimiter, "encoding": self.encoding,
                        "found": self.found, "bom": bom is not None}

    def _find_dialect(self, delimiter: str, wanted: list[str]) -> None:
        """Sets ``delimiter``, ``found`` and ``skipped`` (lines before the header: an Excel sep= line)."""
        sample = self.handle.read(SNIFF_CHARS)
        self.handle.seek(0)
        sep = SEP_LINE.match(sample)
        self.skipped = 0
        if sep:   # Excel's hint line is not data: skip it, still counting it in line numbers
            self.handle.readline()
            self.skipped, sample = 1, sample[sep.end():]
        if delimiter.lower() != AUTO:
            self.delimiter, self.found = delimiter, "given"
        elif sep:
            self.delimiter, self.found = sep.group(1), "sep= line"
        else:
            self.delimiter, self.found = guess_delimiter(self.path, sample, wanted), "detected"

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
            raise StageError(f"{self.path}:{self.reader.line_num + self.skipped}: cannot read the header row "
                             f"({exc})") from None
        raise StageError(f"{self.path}: empty file, no header row")

    def rows(self) -> Iterator[Row]:
        width = len(self.columns)
        start = self.reader.line_num + 1 + self.skipped
        number = 0
        while True:
            try:
                fields = next(self.reader)
            except StopIteration:
                return
            except UnicodeError as exc:   # UTF-16/32 text cut inside a character: the rest is lost
                yield Row(start, number + 1, None, f"not {self.encoding} text from here on ({exc.reason})")
                return
            except csvlib.Error as exc:
                number += 1
                yield Row(start, number, None, f"broken quoting: {exc}")
                start = self.reader.line_num + 1 + self.skipped
                continue
            line, start = start, self.reader.line_num + 1 + self.skipped
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


def template_fields(text: str) -> list[str]:
    """The columns a --template names ([] when it does not parse: Template says why)."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(unescape(text)) if f is not None]
    except ValueError:
        return []


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
