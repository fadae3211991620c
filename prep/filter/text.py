"""What the quality rules measure: the prose of one text, split once into words, lines and paragraphs.

Code and markdown tables are taken out before anything is measured, so that a rule written
for web prose never judges them: code lines as prep/clean.py finds them (fences, indentation,
code-like lines, a field that is code as a whole), table rows as lines that start and end with
a bar; `inline code` counts as one word. Each measure is computed on first use and kept, so a record that fails an early rule
costs only what that rule needed.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import cached_property

from prep.clean import INLINE_CODE, code_flags
from prep.filter.language import LETTER

_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
# A record is code, not prose, when at least this share of its non-blank lines are code or table.
CODE_SHARE = 0.6
# Scripts written without spaces between words: Han, Hiragana, Katakana, Thai, Lao, Tibetan,
# Myanmar, Khmer. Their whitespace "words" are phrases or whole sentences (Thai answers: 13.4
# characters each on real Django translations; 681 characters of Japanese: 32 "words").
_UNSPACED = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\u0e00-\u0fff"
                       "\u1000-\u109f\u1780-\u17ff]")
# From this share of the letters on, a text is judged as written without spaces.
UNSPACED_SHARE = 0.3


class Measured:
    """The prose of ``text`` and the counts the rules read (whitespace words, non-blank lines)."""

    def __init__(self, text: str):
        lines = text.split("\n")
        flags = code_flags(lines)
        filled = 0
        other = 0          # non-blank lines that are code or a table row
        prose: list[str] = []
        for line, is_code in zip(lines, flags):
            if not line.strip():
                prose.append("")
                continue
            filled += 1
            if is_code or _TABLE_ROW.match(line):
                other += 1
                prose.append("")   # a break, so that prose on both sides is not one paragraph
            else:
                prose.append(line)
        self.all_lines = filled
        self.code_lines = other
        # `inline code` is measured as one short word, so that a long identifier said twice in
        # an explanation does not read as repeated prose.
        self.text = INLINE_CODE.sub("CODE", "\n".join(prose).strip("\n"))

    @property
    def is_code(self) -> bool:
        """Mostly code or tables: no prose rule applies."""
        return self.all_lines > 0 and self.code_lines >= CODE_SHARE * self.all_lines

    @cached_property
    def words(self) -> list[str]:
        return self.text.split()

    @cached_property
    def unspaced(self) -> bool:
        """Mostly in a script without spaces between words: rules that count whitespace words
        (rule.spaced) would measure phrases, not words, and do not apply."""
        if self.text.isascii():  # most records: no script of that kind, and no regex pass
            return False
        letters = len(LETTER.findall(self.text))
        return letters > 0 and len(_UNSPACED.findall(self.text)) >= UNSPACED_SHARE * letters

    @cached_property
    def lower_words(self) -> list[str]:
        return [word.lower() for word in self.words]

    @cached_property
    def lines(self) -> list[str]:
        """Non-blank lines, stripped."""
        return [line.strip() for line in self.text.split("\n") if line.strip()]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in _PARAGRAPH_BREAK.split(self.text) if p.strip()]

    @cached_property
    def chars(self) -> int:
        """Characters of the prose, newlines not counted."""
        return sum(map(len, self.lines))

    @cached_property
    def word_chars(self) -> int:
        return sum(map(len, self.words))

    @cached_property
    def repeated_lines(self) -> tuple[int, int]:
        """``duplicated(lines)``: three rules read it, counted once."""
        return duplicated(self.lines)

    @cached_property
    def repeated_paragraphs(self) -> tuple[int, int]:
        return duplicated(self.paragraphs)


def duplicated(items: list[str]) -> tuple[int, int]:
    """(how many items repeat one seen before, their characters): Gopher's duplicate measures."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def top_ngram_share(words: list[str], n: int, total_chars: int) -> float:
    """Characters in the most frequent word n-gram (each occurrence) over all word characters.

    Only an n-gram seen more than once counts: one occurrence is not repetition.
    """
    if len(words) < n or not total_chars:
        return 0.0
    counts = Counter(zip(*(words[i:] for i in range(n))))
    gram, times = counts.most_common(1)[0]
    if times < 2:
        return 0.0
    return sum(map(len, gram)) * times / total_chars


def duplicated_ngram_share(words: list[str], n: int, total_chars: int) -> float:
    """Characters of words covered by an n-gram that occurs again earlier, over all word characters.

    Each word is counted once even when several repeated n-grams cover it (Gopher's rule).
    """
    if len(words) <= n or not total_chars:
        return 0.0
    grams = list(zip(*(words[i:] for i in range(n))))
    if len(set(grams)) == len(grams):
        return 0.0   # the common case, found at C speed: no n-gram repeats
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(words)
    for i, gram in enumerate(grams):
        if gram in seen:
            covered[i:i + n] = [True] * n
        else:
            seen.add(gram)
    return sum(len(w) for w, hit in zip(words, covered) if hit) / total_chars
