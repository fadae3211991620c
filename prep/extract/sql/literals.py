"""What a row may hold when it loads: literals only, within a row and a cell size.

A VALUES list reaches this check as SQLite reads it (inserts.to_sqlite has already undone
the dialect's escapes, hex numbers, casts and version comments), so one grammar serves every
dialect: a row is ``(value, ...)`` and a value is NULL, TRUE, FALSE, a signed number, a
quoted string, a hex blob, or CAST of one of those. Anything else is an expression that
SQLite would compute while loading: replace() nested seven deep turns 282 bytes into 100 MB,
printf('%.*c', ...) and zeroblob() need only a number, a subquery can join VALUES lists into
a million rows or recurse forever, and ``||`` builds values the dump does not hold. Such a
row is refused with a reason (the load authorizer, which denies every function, backs this).

One exception, since real dumps need it: sqlite3's ``.dump`` writes a string holding line
breaks as ``replace('a\\nb','\\n',char(10))`` (the marker may be ``\\012`` or ``(\\n0)``...),
newer releases as ``unistr('a\\u000ab')``. Those exact forms are read here, in Python, into
plain strings: a marker of at least one character becomes one character, an escape becomes
one character, so the value is never longer than the dump's text.

Sizes are UTF-8 bytes of the SQLite text: a row over --max-row-bytes or a value over
--max-cell-bytes is refused whatever it holds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from prep.extract.sql import MAX_CELL_BYTES, MAX_ROW_BYTES
from prep.extract.sql.patterns import BLOCK_COMMENT, STANDARD

_SPACE = rf"\s*+(?:(?:{BLOCK_COMMENT}|--[^\n]*+)\s*+)*+"
_STRING = STANDARD  # SQLite's own quoting: the text has been rewritten into it
# The other literals: a hex blob, a signed number in any notation, and the three words.
_BLOB, _NUMBER, _WORD = (r"[xX]'[0-9A-Fa-f]*+'",
                         r"(?:[-+]\s*+)*+(?:0[xX][0-9A-Fa-f]++|(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][-+]?\d++)?)(?![\w.])",
                         r"(?:NULL|TRUE|FALSE)(?![\w$])")
# Strings first, then plain integers and decimals: the common values, tried cheapest first
# (about a third faster on mysqldump-shaped rows than the full number pattern first).
_PLAIN = rf"(?:{_STRING}|-?\d++(?:\.\d++)?(?![\w.'])|{_NUMBER}|{_BLOB}|{_WORD})"
_TYPE = r"[A-Za-z_]\w*+(?:\s++[A-Za-z_]\w*+)*+(?:\s*+\(\s*+\d++\s*+(?:,\s*+\d++\s*+)?\))?"
_VALUE = rf"(?:{_PLAIN}|CAST{_SPACE}\({_SPACE}{_PLAIN}{_SPACE}AS\s++{_TYPE}{_SPACE}\))"
_ROW = rf"\({_SPACE}{_VALUE}{_SPACE}(?:,{_SPACE}{_VALUE}{_SPACE})*+\)"
# PostgreSQL's pg_dump --on-conflict-do-nothing ends each INSERT so; SQLite reads it alike.
_TAIL = r"(?:ON\s++CONFLICT(?:\s*+\([^()']*+\))?\s++DO\s++NOTHING)?"


@cache
def grammar() -> tuple[re.Pattern, re.Pattern]:
    """(one row, a whole VALUES list), compiled on first use: large patterns that the CLI's
    start-up should not pay for."""
    return (re.compile(f"{_SPACE}{_ROW}{_SPACE}", re.I | re.S),
            re.compile(f"{_SPACE}{_ROW}{_SPACE}(?:,{_SPACE}{_ROW}{_SPACE})*+{_TAIL}{_SPACE}", re.I | re.S))


LITERAL = re.compile(f"{_STRING}|{_BLOB}", re.I)

# sqlite3 .dump's spellings of line breaks and control characters (see the module's docstring).
# Quoted strings are matched too, so that text inside a string is never taken for a call.
DUMP_FORM = re.compile(
    rf"({_STRING})"
    rf"|(?<![\w$])replace\s*+\(\s*+({_STRING})\s*+,\s*+({_STRING})\s*+,"
    rf"\s*+char\s*+\(\s*+(\d{{1,7}})\s*+\)\s*+\)"
    rf"|(?<![\w$])unistr\s*+\(\s*+({_STRING})\s*+\)", re.I)
DUMP_CALL = re.compile(r"(?<![\w$])(?:replace|unistr)\s*+\(", re.I)
UNISTR_ESCAPE = re.compile(r"\\(?:(\\)|u?([0-9A-Fa-f]{4})|\+([0-9A-Fa-f]{6})|U([0-9A-Fa-f]{8}))")
# Nesting of replace() in what .dump writes: one for "\n", one for "\r".
DUMP_DEPTH = 4

CALL = re.compile(r"(?<![\w$])([A-Za-z_]\w*)\s*\(")
SQL_WORDS = re.compile(r"\b(SELECT|VALUES|WITH|FROM)\b", re.I)
# What not_literal counts a row as: SQLite's own error is reported instead when it cannot compile it.
NOT_LITERAL = ("subquery", "function call", "expression")
OPERATOR = re.compile(r"\|\||[*/%&|<>=~]|(?<=[\w')\s])\s*[-+]")


@dataclass(frozen=True)
class Limits:
    row_bytes: int = MAX_ROW_BYTES
    cell_bytes: int = MAX_CELL_BYTES

    def quick(self) -> int:
        """Characters below which no text can be over either limit (UTF-8: at most 4 bytes each)."""
        return min(self.row_bytes, self.cell_bytes) // 4


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def quote(text: str) -> str:
    return "'" + text.replace("\x00", "").replace("'", "''") + "'"


def character(code: int) -> str:
    """chr(), where NUL is dropped (SQL text holds none) and no-characters read as U+FFFD."""
    if code == 0:
        return ""
    return "\ufffd" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else chr(code)


def _unistr(body: str) -> str | None:
    text = body.replace("''", "'")
    if "\\" not in UNISTR_ESCAPE.sub("", text):
        return UNISTR_ESCAPE.sub(lambda m: "\\" if m.group(1) else character(int(m.group(m.lastindex), 16)),
                                 text)
    return None   # an escape SQLite refuses too: the call stays, and the row is refused


def _dump_form(m: re.Match) -> str:
    if m.group(1) is not None:
        return m.group(1)
    if m.group(5) is not None:
        text = _unistr(m.group(5)[1:-1])
        return m.group() if text is None else quote(text)
    text, marker = m.group(2)[1:-1].replace("''", "'"), m.group(3)[1:-1].replace("''", "'")
    return quote(text.replace(marker, character(int(m.group(4))))) if marker else m.group()


def dump_forms(values: str) -> str:
    """``values`` with sqlite3 .dump's replace(...,char(N)) and unistr(...) read into strings."""
    for _ in range(DUMP_DEPTH):
        if DUMP_CALL.search(values) is None:
            break
        values = DUMP_FORM.sub(_dump_form, values)
    return values


def literal_values(values: str, limits: Limits) -> str | None:
    """The VALUES list if every row is literals within the limits (.dump forms read); else None."""
    if grammar()[1].fullmatch(values) is None:
        if DUMP_CALL.search(values) is None:
            return None
        values = dump_forms(values)
        if grammar()[1].fullmatch(values) is None:
            return None
    return values if len(values) <= limits.quick() or within(values, limits) is None else None


def check_row(row: str, limits: Limits) -> tuple[str | None, tuple[str, str] | None]:
    """(the row as it loads, None), or (None, why it is refused) for one ``(...)`` row; why is
    (what the refusal is counted as, the detail)."""
    reason = within(row, limits) if len(row) > limits.quick() else None
    if reason is not None:
        return None, reason
    if grammar()[0].fullmatch(row) is None:
        row = dump_forms(row)
        if grammar()[0].fullmatch(row) is None:
            return None, not_literal(row)
    return row, None


def within(text: str, limits: Limits, cells=None) -> tuple[str, str] | None:
    """Why ``text`` (a row, or rows) is over a limit; None when it is not. Its values are its
    quoted literals, or ``cells`` (a COPY row's fields)."""
    size = utf8_size(text)
    if size > limits.row_bytes:
        return "row over --max-row-bytes", f"{size} bytes, over --max-row-bytes {limits.row_bytes}"
    if size > limits.cell_bytes:
        for value in (m.group() for m in LITERAL.finditer(text)) if cells is None else cells:
            cell = utf8_size(value)
            if cell > limits.cell_bytes:
                return ("value over --max-cell-bytes",
                        f"a value of {cell} bytes, over --max-cell-bytes {limits.cell_bytes}")
    return None


def not_literal(row: str) -> tuple[str, str]:
    """What in a row is not a literal: a subquery, a call, an operator; names the first."""
    code = LITERAL.sub("''", row)
    call = CALL.search(code)
    word = SQL_WORDS.search(code)
    if word is not None and (call is None or word.start() <= call.start()):
        return "subquery", (f"a subquery ({word.group(1).upper()} ...) where a value belongs: "
                            "only literal values load")
    if call is not None and call.group(1).upper() != "CAST":
        return "function call", f"a function call, {call.group(1)}(): only literal values load"
    operator = OPERATOR.search(code)
    what = f"the operator {operator.group().strip()}" if operator else "an expression"
    return "expression", f"{what} where a value belongs: only literal values (and CAST of one) load"
