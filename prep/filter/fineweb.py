"""FineWeb's extra rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.5).

The thresholds are the paper's: it chose each to drop what the Gopher and C4 rules missed on
Common Crawl pages. All judge a web page's shape, so they apply to text records only.
"""
from __future__ import annotations

from prep.filter.rule import Param, Rule
from prep.filter.text import Measured

# Ends of sentences in the scripts the language filter knows, plus closing quotes and brackets
# that follow one ('He said "yes."').
TERMINAL = (".", "!", "?", '"', "'", "”", "’", ")", "։", "؟", "۔", "।", "॥", "。", "！", "？", "…", "፧", "።")


def line_punctuation(m: Measured, s) -> str | None:
    share = sum(1 for line in m.lines if line.endswith(TERMINAL)) / len(m.lines)
    return (f"{share:.2f} of lines end in punctuation <= {s.min_punct_line_share}"
            if share <= s.min_punct_line_share else None)


def short_lines(m: Measured, s) -> str | None:
    share = sum(1 for line in m.lines if len(line) <= s.short_line_chars) / len(m.lines)
    return (f"{share:.2f} of lines have <= {s.short_line_chars} characters >= {s.max_short_line_share}"
            if share >= s.max_short_line_share else None)


def dup_line_chars(m: Measured, s) -> str | None:
    share = m.repeated_lines[1] / m.chars if m.chars else 0.0
    return (f"{share:.2f} of characters in repeated lines >= {s.max_fineweb_dup_char_share}"
            if share >= s.max_fineweb_dup_char_share else None)


def list_ratio(m: Measured, s) -> str | None:
    ratio = (len(m.lines) - 1) / len(m.words)
    return f"{ratio:.2f} line breaks per word > {s.max_lines_per_word}" if ratio > s.max_lines_per_word else None


RULES = (
    Rule("fineweb_line_punct", "fineweb", line_punctuation, "more than 12% of lines end in punctuation: "
         "running text, not menus or link lists", scope="text",
         params=(Param("--min-punct-line-share", 0.12, "share of lines"),)),
    Rule("fineweb_short_lines", "fineweb", short_lines, "fewer than 67% of lines of 30 characters or less",
         scope="text", params=(Param("--max-short-line-share", 0.67, "share of lines"),
                               Param("--short-line-chars", 30, "characters that make a line short"))),
    Rule("fineweb_dup_line_chars", "fineweb", dup_line_chars, "under 10% of characters in repeated lines",
         scope="text", params=(Param("--max-fineweb-dup-char-share", 0.1, "share of characters"),)),
    Rule("fineweb_list_ratio", "fineweb", list_ratio, "at most 0.3 line breaks per word: not a list of "
         "one- or two-word lines", scope="text", spaced=True,
         params=(Param("--max-lines-per-word", 0.3, "per word"),)),
)
