"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A).

Thresholds are the paper's. Two changes, each for instruction data, both said in the rule:
markdown heading marks (``## Step 1``) are not counted as the ``#`` symbol, which the paper
aimed at hashtag spam; and the rules that judge a web page's shape apply to text records only.
"""
from __future__ import annotations

import re

from prep.filter.rule import Param, Rule
from prep.filter.text import Measured, duplicated_ngram_share, top_ngram_share

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("-", "*", "•", "‣", "●", "◦", "▪", "–", "·")
ELLIPSES = ("...", "…")
_HEADING = re.compile(r"^#{1,6}\s", re.M)
_HAS_ALPHA = re.compile(r"[^\W\d_]")
TOP_NGRAMS = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAMS = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


def word_count(m: Measured, s) -> str | None:
    n = len(m.words)
    if n < s.gopher_min_words:
        return f"{n} words < {s.gopher_min_words}"
    if n > s.gopher_max_words:
        return f"{n} words > {s.gopher_max_words}"
    return None


def mean_word_length(m: Measured, s) -> str | None:
    mean = m.word_chars / len(m.words)
    if not s.min_mean_word_length <= mean <= s.max_mean_word_length:
        return f"mean word length {mean:.2f} outside {s.min_mean_word_length}..{s.max_mean_word_length}"
    return None


def symbol_ratio(m: Measured, s) -> str | None:
    hashes = m.text.count("#") - sum(match.group(0).count("#") for match in _HEADING.finditer(m.text))
    ratio = (hashes + sum(m.text.count(e) for e in ELLIPSES)) / len(m.words)
    return f"{ratio:.3f} symbols per word > {s.max_symbol_word_ratio}" if ratio > s.max_symbol_word_ratio else None


def _line_share(m: Measured, test) -> float:
    return sum(map(test, m.lines)) / len(m.lines) if m.lines else 0.0


def bullet_lines(m: Measured, s) -> str | None:
    share = _line_share(m, lambda line: line.startswith(BULLETS))
    return f"{share:.2f} of lines are bullets > {s.max_bullet_line_share}" if share > s.max_bullet_line_share else None


def ellipsis_lines(m: Measured, s) -> str | None:
    share = _line_share(m, lambda line: line.endswith(ELLIPSES))
    return (f"{share:.2f} of lines end in an ellipsis > {s.max_ellipsis_line_share}"
            if share > s.max_ellipsis_line_share else None)


def alpha_words(m: Measured, s) -> str | None:
    share = sum(1 for w in m.words if _HAS_ALPHA.search(w)) / len(m.words)
    return (f"{share:.2f} of words have a letter < {s.min_alpha_word_share}"
            if share < s.min_alpha_word_share else None)


def stop_words(m: Measured, s) -> str | None:
    found = sum(1 for w in m.lower_words if w in STOP_WORDS)
    return f"{found} stop words < {s.min_stop_words}" if found < s.min_stop_words else None


def dup_lines(m: Measured, s) -> str | None:
    count, _ = m.repeated_lines
    share = count / len(m.lines) if m.lines else 0.0
    return f"{share:.2f} of lines repeat > {s.max_dup_line_share}" if share > s.max_dup_line_share else None


def dup_paragraphs(m: Measured, s) -> str | None:
    count, _ = m.repeated_paragraphs
    share = count / len(m.paragraphs) if m.paragraphs else 0.0
    return (f"{share:.2f} of paragraphs repeat > {s.max_dup_paragraph_share}"
            if share > s.max_dup_paragraph_share else None)


def dup_line_chars(m: Measured, s) -> str | None:
    share = m.repeated_lines[1] / m.chars if m.chars else 0.0
    return (f"{share:.2f} of characters in repeated lines > {s.max_dup_line_char_share}"
            if share > s.max_dup_line_char_share else None)


def dup_paragraph_chars(m: Measured, s) -> str | None:
    share = m.repeated_paragraphs[1] / m.chars if m.chars else 0.0
    return (f"{share:.2f} of characters in repeated paragraphs > {s.max_dup_paragraph_char_share}"
            if share > s.max_dup_paragraph_char_share else None)


def top_ngrams(m: Measured, s) -> str | None:
    for n in TOP_NGRAMS:
        limit = getattr(s, f"max_top_{n}gram_share")
        share = top_ngram_share(m.lower_words, n, m.word_chars)
        if share > limit:
            return f"the top {n}-gram holds {share:.2f} of characters > {limit}"
    return None


def dup_ngrams(m: Measured, s) -> str | None:
    for n in DUP_NGRAMS:
        limit = getattr(s, f"max_dup_{n}gram_share")
        share = duplicated_ngram_share(m.lower_words, n, m.word_chars)
        if share > limit:
            return f"{share:.2f} of characters in repeated {n}-grams > {limit}"
    return None


def _share(flag: str, default: float, what: str) -> Param:
    return Param(flag, default, what)


RULES = (
    Rule("gopher_word_count", "gopher", word_count, "a web document of 50 to 100,000 words", scope="text",
         judges_shares=False, spaced=True, params=(Param("--gopher-min-words", 50, "fewest words"),
                                      Param("--gopher-max-words", 100_000, "most words"))),
    Rule("gopher_mean_word_length", "gopher", mean_word_length, "mean word length 3-10 characters: "
         "not a list of numbers, not glued tokens or base64", spaced=True,
         params=(Param("--min-mean-word-length", 3.0, "characters"), Param("--max-mean-word-length", 10.0, "characters"))),
    Rule("gopher_symbol_ratio", "gopher", symbol_ratio, "at most 0.1 hash signs and ellipses per word: "
         "hashtag spam and truncated teasers", spaced=True, params=(_share("--max-symbol-word-ratio", 0.1, "per word"),)),
    Rule("gopher_bullet_lines", "gopher", bullet_lines, "at most 90% of lines are bullets: link lists and menus",
         scope="text", params=(_share("--max-bullet-line-share", 0.9, "share of lines"),)),
    Rule("gopher_ellipsis_lines", "gopher", ellipsis_lines, "at most 30% of lines end in an ellipsis: teaser "
         "lists of truncated snippets", params=(_share("--max-ellipsis-line-share", 0.3, "share of lines"),)),
    Rule("gopher_alpha_words", "gopher", alpha_words, "at least 80% of words hold a letter: not tables of "
         "numbers", scope="text", params=(_share("--min-alpha-word-share", 0.8, "share of words"),)),
    Rule("gopher_stop_words", "gopher", stop_words, "at least two English stop words (the, be, to, of, and, "
         "that, have, with): real sentences, not keyword lists", scope="text", english=True,
         params=(Param("--min-stop-words", 2, "occurrences"),)),
    Rule("gopher_dup_lines", "gopher", dup_lines, "at most 30% of lines repeat an earlier line",
         repetition=True,
         params=(_share("--max-dup-line-share", 0.3, "share of lines"),)),
    Rule("gopher_dup_paragraphs", "gopher", dup_paragraphs, "at most 30% of paragraphs repeat an earlier one",
         repetition=True,
         params=(_share("--max-dup-paragraph-share", 0.3, "share of paragraphs"),)),
    Rule("gopher_dup_line_chars", "gopher", dup_line_chars, "at most 20% of characters in repeated lines",
         repetition=True,
         params=(_share("--max-dup-line-char-share", 0.2, "share of characters"),)),
    Rule("gopher_dup_paragraph_chars", "gopher", dup_paragraph_chars, "at most 20% of characters in "
         "repeated paragraphs", repetition=True,
         params=(_share("--max-dup-paragraph-char-share", 0.2, "share of characters"),)),
    Rule("gopher_top_ngrams", "gopher", top_ngrams, "the most frequent 2-, 3-, 4-gram holds at most 20%, 18%, "
         "16% of characters: a phrase said over and over",
         repetition=True, spaced=True,
         params=tuple(_share(f"--max-top-{n}gram-share", v, "share of characters") for n, v in TOP_NGRAMS.items())),
    Rule("gopher_dup_ngrams", "gopher", dup_ngrams, "repeated 5- to 10-grams cover at most 15% down to 10% "
         "of characters: a passage said again and again",
         repetition=True, spaced=True,
         params=tuple(_share(f"--max-dup-{n}gram-share", v, "share of characters") for n, v in DUP_NGRAMS.items())),
)
