"""Normalise text and drop refusals, disclaimers and records of the wrong length.

Every text field (text, input, output, message contents) is normalised: Unicode NFC,
line endings to \\n, zero-width characters and stray control characters removed,
non-breaking spaces to spaces, runs of spaces collapsed, at most one blank line in a row.
Then each record goes through the checks in order; the first that fails drops it with a
reason: "empty", "refusal" (a phrase from the built-in list in prep/refusals.txt, plus
--phrases FILE, found case-insensitively on the response side: the output of input-output
records, the assistant turns of chats, the whole text of text records), "too-short",
"too-long" (words of the whole record).
"""
from __future__ import annotations

import re
import unicodedata
from functools import partial
from importlib import resources
from pathlib import Path

from prep.core.errors import StageError
from prep.core.flags import add_common
from prep.core.records import input_files, read_records
from prep.core.shapes import kind, main_text, response_text
from prep.core.stage import Stage, apply, options_of

# Characters that carry no text: zero-width spaces/joiners, word joiner, BOM.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
# C0/C1 controls except tab and newline (a CR was already turned into a newline).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
# Typographic quotes read as straight ones when matching phrases ("I’m" == "I'm").
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", _INVISIBLE.sub("", text))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def normalise_record(record: dict) -> dict:
    for key in ("text", "input", "output", "instruction", "prompt", "generation"):
        if isinstance(record.get(key), str):
            record[key] = normalise(record[key])
    if isinstance(record.get("messages"), list):
        for message in record["messages"]:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["content"] = normalise(message["content"])
    return record


def load_phrases(extra: Path | None = None) -> list[str]:
    """The built-in phrase list, plus the lines of ``extra`` (one phrase a line, # comments)."""
    texts = [resources.files("prep").joinpath("refusals.txt").read_text(encoding="utf-8")]
    if extra is not None:
        try:
            texts.append(Path(extra).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise StageError(f"--phrases {extra}: cannot read it as UTF-8 text ({exc})") from exc
    phrases = []
    for text in texts:
        for line in text.splitlines():
            line = line.strip().lower().translate(_QUOTES)
            if line and not line.startswith("#") and line not in phrases:
                phrases.append(line)
    return phrases


def phrase_pattern(phrases: list[str]) -> re.Pattern:
    # One alternation, longest first, so the reported match is the most specific phrase.
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile("|".join(re.escape(p) for p in ordered), re.IGNORECASE)


def check_empty(record: dict):
    k = kind(record)
    if k == "input-output" and not str(record.get("output") or "").strip():
        return "empty", "output is empty"
    if k == "messages" and not any(
            isinstance(m, dict) and m.get("role") in ("assistant", "gpt", "model") and str(m.get("content", "")).strip()
            for m in record["messages"]):
        return "empty", "no assistant turn with content"
    if not main_text(record).strip():
        return "empty", "no text"
    return None


def check_refusal(record: dict, pattern: re.Pattern):
    match = pattern.search(response_text(record).translate(_QUOTES))
    return None if match is None else ("refusal", f"matched {match.group(0).lower()!r}")


def check_length(record: dict, min_words: int, max_words: int | None):
    words = len(main_text(record).split())
    if words < min_words:
        return "too-short", f"{words} words < {min_words}"
    if max_words is not None and words > max_words:
        return "too-long", f"{words} words > {max_words}"
    return None


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--phrases", type=Path, default=None,
                        help="a file of extra refusal phrases, one a line (# comments), added to the "
                        "built-in list")
    parser.add_argument("--min-words", "--min_words", type=int, default=1,
                        help="drop records with fewer words than this (whole record)")
    parser.add_argument("--max-words", "--max_words", type=int, default=None,
                        help="drop records with more words than this (default: no limit)")
    parser.add_argument("--keep-refusals", "--keep_refusals", action="store_true",
                        help="normalise and length-filter only; keep records with refusal phrases")


def run(args) -> int:
    phrases = load_phrases(args.phrases)
    checks = [check_empty]
    if not args.keep_refusals:
        checks.append(partial(check_refusal, pattern=phrase_pattern(phrases)))
    checks.append(partial(check_length, min_words=args.min_words, max_words=args.max_words))
    with Stage("clean", args.output, options_of(args), input_files(args.input), args.quiet) as stage:
        stage.extra["phrases"] = len(phrases)
        records = (normalise_record(r) for r in stage.records(read_records(args.input)))
        for record in apply(records, checks, stage):
            stage.keep(record)
    if not args.quiet:
        print(f"clean: kept {stage.kept} of {stage.read_count}; dropped {dict(stage.dropped)}; "
              f"errors {stage.errors} -> {args.output}")
    return 0
