"""Long statements read without holding them: an INSERT's rows by batch, oversize text passed over.

A dump may hold one INSERT of a million rows: read whole, rewritten and parsed by SQLite, one
of 52 MB peaked at 0.9 GB (SQLite's parse of a VALUES list takes some 20 times its text). An
INSERT ... VALUES longer than STREAM_CHARS comes out in batches of about BATCH_CHARS of rows
(ValuesRows), each a VALUES list of its own, so memory holds one read chunk and one batch
whatever the statement's length.
A row longer than --max-row-bytes, a row that cannot be read, or any other statement longer
than that limit is passed over unkept (TooLong, or a Statement marked ``cut``): quotes,
comments and parentheses are followed chunk by chunk, so the reader stays in step with the
dump without ever holding the oversize text.

``Streaming`` is a part of split.Splitter, which supplies the buffer: ``buf``, ``pos``,
``line``, ``eof``, ``_fill(want)``, ``_advance(end)``, and ``dialect``, ``delimiter``,
``backslashes``, ``limits``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from prep.extract.sql.patterns import classify, code_pattern, row_patterns, statement_pattern

# An INSERT not complete within this many characters is read row batch by row batch.
STREAM_CHARS = 1 << 20
# Characters of rows handed on at once: about one joined INSERT of batch.py.
BATCH_CHARS = 1 << 20
# Characters kept at the end of the buffer while passing text over, so that a two-character
# opener ("/*", "--", "E'") or a $tag$ is never cut in half between two reads.
MARGIN = 64
DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_]\w*)?\$")
COMMA = re.compile(r"\s*+(,)?")
SPACE = re.compile(r"\s*+")


def _body(quote: str, escapes: bool) -> re.Pattern:
    """The inside of a quoted text up to its closing quote (possessive: nothing to backtrack)."""
    if escapes:
        return re.compile(rf"(?:[^{quote}\\]++|\\.|{quote}{quote})*+", re.S)
    return re.compile(rf"(?:[^{quote}]++|{quote}{quote})*+", re.S)


# Per dialect: quote -> whether backslash escapes apply inside it.
QUOTE_ESCAPES = {"mysql": {"'": True, '"': True, "`": False},
                 "postgres": {"'": False, '"': False},
                 "sqlite": {"'": False, '"': False, "`": False}}
BODIES = {(q, e): _body(q, e) for q in "'\"`" for e in (False, True)}


@dataclass
class ValuesRows:
    line: int          # line of the statement's first word
    head: str          # INSERT ... VALUES, as written
    kind: str          # INSERT or REPLACE
    rows_line: int     # line where ``body`` starts
    body: str          # whole rows, comma-separated: a VALUES list of its own
    first: bool        # the statement's first batch
    last: bool         # its last batch (a tail such as ON DUPLICATE KEY UPDATE is in ``body``)


@dataclass
class TooLong:
    line: int                # where the text passed over starts
    kind: str                # the statement's kind (INSERT, COPY)
    why: tuple[str, str]     # (what is counted, the detail for the rejects file)


class Streaming:
    """The long-statement half of split.Splitter (see the module's docstring)."""

    def _long_insert(self, head_end: int) -> Iterator[ValuesRows | TooLong]:
        """The rows of the INSERT ... VALUES whose head ends at ``head_end``, batch by batch."""
        line, head = self.line, self.buf[self.pos:head_end]
        kind = classify(head)
        self._advance(head_end)
        first = True
        while True:
            piece = self._next_rows()
            if piece is None and not self.eof and len(self.buf) - self.pos <= self.limits.row_bytes:
                self._fill(len(self.buf) - self.pos)
                continue
            if piece is None:
                self._advance(SPACE.match(self.buf, self.pos).end())   # to the row's own line
                at, (skipped, how) = self.line, self._skip(in_row=True)
                yield TooLong(at, kind, self._row_trouble(skipped, how))
                if how != "paren" or not self._after_row():
                    return
                continue
            end, taken, last = piece
            yield ValuesRows(line, head, kind, self.line, self.buf[self.pos:end], first, last)
            first = False
            self._advance(taken)
            if last:
                return

    def _next_rows(self) -> tuple[int, int, bool] | None:
        """(where the text of the rows whole at ``pos`` ends, where what they take ends, whether
        the statement ends with them); None when no row is whole in the buffer."""
        rows, row = row_patterns(self.dialect, self.delimiter, self.backslashes)
        m = rows.match(self.buf, self.pos, min(len(self.buf), self.pos + BATCH_CHARS))
        if m.end() > self.pos:
            return m.end() - 1, m.end(), False          # whole rows, each with its ","
        m = row.match(self.buf, self.pos)                # one row longer than a batch, or the last
        if m is None or (m.end() == len(self.buf) and not self.eof):
            return None
        follows = m.group("next")
        if follows == ",":
            return m.end() - 1, m.end(), False
        if follows is not None:
            return m.end() - len(follows), m.end(), True
        # A tail after the last row (ON DUPLICATE KEY UPDATE ...) goes with the last rows; so does
        # the rest of a dump that ends without the statement's delimiter.
        end = statement_pattern(self.dialect, self.delimiter, self.backslashes).match(self.buf, m.end())
        if end is None:
            return (len(self.buf), len(self.buf), True) if self.eof else None
        return end.end() - len(self.delimiter), end.end(), True

    def _after_row(self) -> bool:
        """Past the "," after a row passed over; False when the statement ends there instead."""
        while not self.eof and len(self.buf) - self.pos < MARGIN:
            self._fill()
        m = COMMA.match(self.buf, self.pos)
        self._advance(m.end())
        if m.group(1):
            return True
        if self.buf.startswith(self.delimiter, self.pos):
            self._advance(self.pos + len(self.delimiter))
        else:
            self._skip(in_row=False)
        return False

    def _row_trouble(self, skipped: int, how: str) -> tuple[str, str]:
        if how == "eof":
            return "unreadable row", "the dump ends inside this row (an unclosed quote or parenthesis?)"
        if skipped > self.limits.row_bytes:
            return ("row over --max-row-bytes", f"at least {skipped} characters, over --max-row-bytes "
                                                f"{self.limits.row_bytes}: not read")
        return "unreadable row", "its parentheses do not balance, or nest too deep to read"

    def _skip(self, in_row: bool) -> tuple[int, str]:
        """Pass over text up to the row's closing parenthesis (``in_row``) or the statement's
        delimiter: (characters passed, "paren" | "delimiter" | "eof")."""
        code = code_pattern(self.dialect, self.delimiter, self.backslashes)
        skipped, depth = 0, 0
        while True:
            stop = len(self.buf) if self.eof else len(self.buf) - MARGIN
            if self.pos >= stop:
                if self.eof:
                    return skipped, "eof"
                self._fill()
                continue
            end = code.match(self.buf, self.pos, stop).end()
            skipped += end - self.pos
            self._advance(end)
            if end == stop:
                continue
            if self.buf.startswith(self.delimiter, end):
                self._advance(end + len(self.delimiter))
                return skipped, "delimiter"
            char = self.buf[end]
            if char in "()":
                skipped += 1
                self._advance(end + 1)
                depth += 1 if char == "(" else -1
                if in_row and depth <= 0:
                    return skipped, "paren"
                continue
            passed = self._skip_quoted()
            if passed is None:
                return skipped, "eof"
            skipped += passed

    def _skip_quoted(self) -> int | None:
        """Pass over the quoted text or comment that opens at ``pos``; None when the dump ends in it."""
        buf, start = self.buf, self.pos
        char = buf[start]
        quotes = QUOTE_ESCAPES[self.dialect]
        if self.dialect == "postgres" and char in "Ee" and buf.startswith("'", start + 1):
            return self._pass_body(start + 2, BODIES["'", True], "'")
        if char in quotes:
            escapes = quotes[char] or (self.dialect == "postgres" and char == "'" and self.backslashes)
            return self._pass_body(start + 1, BODIES[char, escapes], char)
        tag = DOLLAR_TAG.match(buf, start) if char == "$" else None
        closer = {"/": "*/", "-": "\n", "#": "\n", "[": "]"}.get(char, tag.group() if tag else "")
        opener = len(tag.group()) if tag else 2 if char in "/-" else 1
        if not closer:
            self._advance(start + 1)
            return 1
        return self._pass_until(start + opener, closer)

    def _pass_body(self, at: int, body: re.Pattern, quote: str) -> int | None:
        passed = at - self.pos
        self._advance(at)
        while True:
            end = body.match(self.buf, self.pos).end()
            if not self.eof and end >= len(self.buf) - 1:   # a doubled quote or escape may be cut
                passed += end - self.pos
                self._advance(end)
                self._fill()
                continue
            if end < len(self.buf) and self.buf[end] == quote:
                passed += end + 1 - self.pos
                self._advance(end + 1)
                return passed
            self._advance(len(self.buf))
            return None

    def _pass_until(self, at: int, closer: str) -> int | None:
        passed = at - self.pos
        self._advance(at)
        while True:
            found = self.buf.find(closer, self.pos)
            if found >= 0:
                passed += found + len(closer) - self.pos
                self._advance(found + len(closer))
                return passed
            if self.eof:
                self._advance(len(self.buf))
                return None
            keep = max(self.pos, len(self.buf) - len(closer) + 1)
            passed += keep - self.pos
            self._advance(keep)
            self._fill()

