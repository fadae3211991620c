"""A dump cut into statements as it streams in: delimiters, COPY data, client commands, line numbers.

The text is read in large chunks; one regex match (patterns.statement_pattern) takes each
whole statement, so a 10 MB dump costs a few thousand Python steps, not millions. What is
not SQL is handled here: MySQL's ``DELIMITER $$`` (the delimiter can be any word, and the
statements between are stored code, never run), psql's backslash commands, and the rows
of ``COPY ... FROM stdin`` up to their ``\\.`` line, handed on in batches. A statement that
is not complete within a few MB is read in pieces instead (stream.py): an INSERT's rows by
batch, anything over --max-row-bytes passed over unkept.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

from prep.extract.sql import stream
from prep.extract.sql.inserts import HEAD
from prep.extract.sql.literals import Limits
from prep.extract.sql.patterns import (
    BODY_KINDS,
    COPY_END,
    COPY_FROM_STDIN,
    DELIMITER_LINE,
    HEAD_CHARS,
    LEAD,
    classify,
    open_blocks,
    statement_pattern,
)
from prep.extract.sql.stream import Streaming, TooLong

# Characters read per chunk (about 4 MB of text): large enough that Python overhead per
# chunk is nothing, small enough to keep memory flat on a multi-GB dump.
CHUNK_CHARS = 1 << 22
STANDARD_STRINGS = re.compile(r"SET\s+standard_conforming_strings\s*(?:=|TO)\s*'?(on|off)", re.I)


@dataclass
class Statement:
    line: int                  # line of its first word in the dump
    text: str                  # without its delimiter
    kind: str
    unterminated: bool = False  # the dump ended before its delimiter
    cut: int = 0               # over --max-row-bytes: characters passed over (``text`` is its start)


@dataclass
class CopyRows:
    line: int                  # line of rows[0]
    rows: list
    closed: bool | None        # True: the block's \. was read; False: the dump ended first


class Splitter(Streaming):
    """Iterate to get Statement, CopyRows, and (stream.py) ValuesRows and TooLong items in dump order."""

    def __init__(self, fh, dialect: str, limits: Limits = Limits()):
        self.fh = fh
        self.dialect = dialect
        self.limits = limits
        self.delimiter = ";"
        self.backslashes = False   # PostgreSQL: standard_conforming_strings = off
        self.directives: Counter = Counter()   # DELIMITER, \connect ...: client commands, not SQL
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False

    def _fill(self, want: int = 0) -> None:
        """Read more text, keeping what has not been consumed; ``want`` grows the read."""
        chunk = self.fh.read(max(CHUNK_CHARS, want))
        self.eof = not chunk
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def _advance(self, end: int) -> None:
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def __iter__(self) -> Iterator[Statement | CopyRows]:
        """Statements in order; a stored program whose BEGIN ... END holds ";" comes out whole."""
        pending, depth = None, 0
        for item in self._items():
            if not isinstance(item, Statement):
                yield item
            elif pending is not None:
                pending.text += ";" + item.text
                depth += open_blocks(item.text, self.dialect)
                if depth <= 0 or item.unterminated:
                    pending.unterminated = item.unterminated
                    yield pending
                    pending = None
            elif item.kind in BODY_KINDS and self.delimiter == ";" and open_blocks(item.text, self.dialect) > 0:
                pending, depth = item, open_blocks(item.text, self.dialect)
            else:
                yield item
        if pending is not None:
            pending.unterminated = True
            yield pending

    def _items(self) -> Iterator[Statement | CopyRows]:
        while True:
            lead = LEAD[self.dialect].match(self.buf, self.pos)
            if lead.end() == len(self.buf) and not self.eof:
                self._fill()    # a comment may go on past the buffer: read before skipping it
                continue
            self._advance(lead.end())
            if self.pos >= len(self.buf):
                return
            if self._directive():
                continue
            pattern = statement_pattern(self.dialect, self.delimiter, self.backslashes)
            m = pattern.match(self.buf, self.pos)
            length = (m.end() if m else len(self.buf)) - self.pos
            head = HEAD.match(self.buf, self.pos) if length > stream.STREAM_CHARS else None
            if head is not None:   # a long INSERT, whole in the buffer or not: read by batch
                yield from self._long_insert(head.end())
                continue
            if length > max(self.limits.row_bytes, stream.STREAM_CHARS):
                statement = self._cut(m)
            elif m is None and not self.eof:
                self._fill(length)   # doubling: a huge statement costs linear time
                continue
            else:
                end = m.end() if m else len(self.buf)
                text = self.buf[self.pos:end - len(self.delimiter)] if m else self.buf[self.pos:].rstrip()
                statement = Statement(self.line, text, classify(text), unterminated=m is None)
                self._advance(end)
            yield statement
            yield from self._after(statement)

    def _cut(self, m: re.Match | None) -> Statement:
        """A statement other than INSERT ... VALUES over --max-row-bytes (and longer than any
        statement read whole, STREAM_CHARS): passed over, whole in the buffer or not."""
        line, text = self.line, self.buf[self.pos:self.pos + HEAD_CHARS]
        if m is not None:
            passed, how = m.end() - self.pos, "delimiter"
            self._advance(m.end())
        else:
            passed, how = self._skip(in_row=False)
        return Statement(line, text, classify(text), unterminated=how == "eof", cut=passed)

    def _after(self, statement: Statement) -> Iterator[CopyRows]:
        """Settings that change how the rest of the dump reads; COPY rows that follow."""
        if statement.kind == "SET" and self.dialect == "postgres":
            m = STANDARD_STRINGS.search(statement.text)
            if m:
                self.backslashes = m.group(1).lower() == "off"
        if statement.kind == "COPY" and COPY_FROM_STDIN.match(statement.text):
            self._to_next_line()
            yield from self._copy_rows()

    def _to_next_line(self) -> None:
        while self.buf.find("\n", self.pos) < 0 and not self.eof:
            self._fill()
        newline = self.buf.find("\n", self.pos)
        self._advance(len(self.buf) if newline < 0 else newline + 1)

    def _copy_rows(self) -> Iterator[CopyRows]:
        while True:
            m = COPY_END.search(self.buf, self.pos)
            if m is not None:
                yield CopyRows(self.line, self.buf[self.pos:m.start()].split("\n")[:-1], closed=True)
                self._advance(m.end())
                self._to_next_line()
                return
            cut = self.buf.rfind("\n", self.pos) + 1
            if self.eof:
                rest = self.buf[self.pos:].split("\n")
                yield CopyRows(self.line, rest[:-1] if rest[-1] == "" else rest, closed=False)
                self._advance(len(self.buf))
                return
            if cut > self.pos:
                yield CopyRows(self.line, self.buf[self.pos:cut - 1].split("\n"), closed=None)
                self._advance(cut)
            elif len(self.buf) - self.pos > self.limits.row_bytes:
                line, pending = self.line, len(self.buf) - self.pos
                passed = self._pass_until(self.pos, "\n")
                detail = (f"at least {max(passed or 0, pending)} characters, over --max-row-bytes "
                          f"{self.limits.row_bytes}: not read")
                yield TooLong(line, "COPY", ("row over --max-row-bytes", detail))
                if passed is None:
                    yield CopyRows(self.line, [], closed=False)
                    return
                continue
            self._fill()

    def _directive(self) -> bool:
        """Client commands that are not SQL: MySQL's DELIMITER, psql's backslash commands."""
        buf, pos = self.buf, self.pos
        if self.dialect == "mysql" and buf[pos:pos + 9].upper() == "DELIMITER":
            m = DELIMITER_LINE.match(buf, pos)
            if m is None:
                return False
            if m.end() == len(buf) and not self.eof:
                self._fill()
                return True
            self.delimiter = m.group(1)
            self.directives["DELIMITER"] += 1
            self._advance(m.end())
            return True
        if self.dialect == "postgres" and buf.startswith("\\", pos):
            newline = buf.find("\n", pos)
            if newline < 0 and not self.eof:
                self._fill()
                return True
            self.directives[buf[pos:newline if newline >= 0 else None].split()[0]] += 1
            self._advance(len(buf) if newline < 0 else newline + 1)
            return True
        return False
