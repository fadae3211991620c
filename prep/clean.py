"""Normalise text and drop refusals, disclaimers and records of the wrong length.

Normalisation touches the text fields of every layout (text, input, output, instruction,
context, response, prompt, generation, completion, question, answer, system, and the turns
of messages and conversations) and changes only this:
  - line endings: CRLF and lone CR become LF;
  - trailing spaces and tabs at the end of each line are removed;
  - blank lines at the start and end of a field are removed;
  - in prose lines only (see below): Unicode NFC, zero-width spaces, word joiners, byte-order
    marks and control characters other than tab removed (zero-width joiners and non-joiners
    too, but only after ASCII, after a space or at a line's start: after a letter, sign or emoji
    they are spelling, at a word's end too, as in Persian and Indic text, Malayalam chillu letters
    written as virama + joiner, and emoji sequences), non-breaking and other Unicode spaces turned into
    plain spaces, runs of spaces between words shrunk to one (not inside `inline code`,
    not on "key: value" lines, not on lines holding a tab or a table bar |), and more
    than one blank line between two prose lines shrunk to one.
Leading spaces and tabs are never touched, nor are tabs anywhere. Code passes through as it is apart from
line endings and trailing spaces: lines inside ``` or ~~~ fences (an unclosed fence runs to
the end), lines indented by a tab or four spaces, lines that read as code (assignments,
calls, keywords, lines ending in ; { or }), and every line of a field that is code as a
whole (Python that parses, or mostly code-like lines).

Then each record goes through the checks in order; the first that fails drops it with a
reason: "empty"; "refusal" (prep/refusals.py: the context-aware rules, the phrases of
prep/refusals.txt and of --phrases FILE; judged on the prose of the response side only,
the output of input-output records, the assistant turns of chats, the whole text of text
records, never inside code or quotation marks; the detail names the rule and the words
matched); "too-short" and "too-long" (words of the whole record).

Preference records (prep.core.shapes: prompt/chosen/rejected, hh-rlhf dialogues, turn lists,
KTO's prompt/completion/label) are normalised field by field and turn by turn (an hh-rlhf
dialogue keeps its "\n\nHuman: " markers; the turns chosen and rejected share are changed the
same way in both). Each response is judged with the prompt as a prompt/response record; the record
is dropped when either response fails, the detail naming it ("rejected: too-long: ..."). Refusals
are sought in the chosen response only unless --refusals-in both.
"""
from __future__ import annotations

import ast
import re
import unicodedata
import warnings
from functools import partial
from itertools import groupby
from pathlib import Path

from prep import refusals
from prep.core.engine import first_verdict, run_work
from prep.core.flags import add_common, add_engine
from prep.core.records import input_files, read_records
from prep.core.shapes import (
    Unusable,
    hh_join,
    hh_split,
    kind,
    layout_is_hh,
    main_text,
    pair_layout,
    pair_of,
    prompt_text,
    response_text,
    view,
)
from prep.core.stage import Stage, options_of
from prep.core.work import Work

# Text fields of every layout prep.core.shapes reads (keys in any letter case).
TEXT_KEYS = frozenset({"text", "input", "output", "instruction", "context", "response", "prompt", "generation",
                       "completion", "question", "answer", "system", "chosen", "rejected", "query",
                       "system_prompt", "history", "human_ref_a", "human_ref_b"})
# Fields of the preference layouts that may hold one turn or a list of turns instead of a text.
TURN_KEYS = ("prompt", "chosen", "rejected", "completion", "preferred_output", "non_preferred_output")
# Characters that carry no text: zero-width space, word joiner, BOM. The zero-width joiner and
# non-joiner are spelling in other scripts (Persian "می\u200cخواهم", Devanagari conjuncts) and
# build emoji (woman + ZWJ + laptop is one "woman technologist"). A joiner acts on the character
# before it, even at a word's end (Malayalam "\u0d28\u0d4d\u200d" is the chillu letter, not the
# consonant with a visible virama), so it goes only where nothing before it can take it: after
# ASCII (a Latin letter, punctuation), after a space or at the start of the line.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]|(?<=[\x00-\x7f\\s])[\u200c\u200d]+|^[\u200c\u200d]+")
# C0/C1 controls except tab and newline.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ODD_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
INLINE_CODE = re.compile(r"(`+)[^`\n]*?\1")
# An inline code span (kept as it is) or a run of spaces between words (shrunk to one).
_SPAN_OR_RUN = re.compile(r"(`+)[^`\n]*?\1|(?<=\S) {2,}(?=\S)")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_INDENTED = re.compile(r"^(?:\t| {4})")
_CODE_LINE = re.compile(r"""
    [;{}]\s*$                                            # C, JS, CSS, SQL statements and blocks
  | ^\s*(?:\#include|\#!|//|/\*|\*/|<\?php|<!--|</?[A-Za-z][\w-]*(?:\s|>|/>|$))
  | ^\s*(?:def|class|import|return|elif|except|finally|lambda|raise|yield|async|await|function
           |const|let|var|public|private|protected|static|void|package|namespace|using|fn|impl
           |struct|enum|SELECT|FROM|WHERE|GROUP\s+BY|ORDER\s+BY|JOIN|INSERT|UPDATE|DELETE
           |CREATE|ALTER|DROP|VALUES)\b(?!\s*[,.!?]?$)
  | ^\s*from\s+\S+\s+import\b
  | ^\s*(?:if|for|while|else|try|with)\b.*:\s*$           # Python block openers
  | ^\s*[A-Za-z_$][\w.$\[\]'"]*\s*(?:=|\+=|-=|\*=|/=|:=|==)\s*\S   # assignment, comparison
  | ^\s*[A-Za-z_$][\w.$]*\(.*\)[;,]?\s*$                  # a bare call
""", re.X)
# "key: value" lines (YAML, config, headers): their spacing may be data, so it is kept; they
# still count as prose for the refusal rules ("Note: as of my knowledge cutoff...").
_KEY_LINE = re.compile(r"^\s*[\w.-]+:(?:\s|$)")
# A field counts as code as a whole when this share of its non-blank lines reads as code.
CODE_SHARE = 0.6
# Python fields longer than this are not test-parsed (characters): parsing is the slow part.
MAX_PARSE_CHARS = 200_000


def _line_is_code(line: str) -> bool:
    return bool(_INDENTED.match(line) or _CODE_LINE.search(line))


def _parses_as_python(text: str) -> bool:
    if len(text) > MAX_PARSE_CHARS or not any(c in text for c in "=(:["):
        return False
    try:
        with warnings.catch_warnings():   # "invalid escape sequence" and the like: not ours to report
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError):   # ValueError: NUL bytes in the source
        return False
    return True


def _is_code_field(lines: list[str]) -> bool:
    filled = [line for line in lines if line.strip()]
    if not filled or any(map(_FENCE.match, filled)):
        return False   # fenced code means markdown: judged line by line
    if sum(map(_line_is_code, filled)) >= CODE_SHARE * len(filled):
        return True
    return len(filled) > 1 and _parses_as_python("\n".join(lines))


def code_flags(lines: list[str]) -> list[bool]:
    """For each line: True where it is code (fenced, indented, code-like, or a code field)."""
    if _is_code_field(lines):
        return [True] * len(lines)
    flags, fence = [], None
    for line in lines:
        marker = _FENCE.match(line)
        if fence is not None:
            flags.append(True)
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence) \
                    and not marker.group(2).strip():
                fence = None
        elif marker:
            flags.append(True)
            fence = marker.group(1)
        else:
            flags.append(_line_is_code(line))
    return flags


def _tidy_prose(line: str) -> str:
    line = _CONTROL.sub("", _INVISIBLE.sub("", unicodedata.normalize("NFC", line)))
    indent = len(line) - len(line.lstrip(" \t"))
    head, body = line[:indent], _ODD_SPACES.sub(" ", line[indent:])
    if not ("\t" in body or "|" in body or _KEY_LINE.match(line)):
        body = _SPAN_OR_RUN.sub(lambda m: m.group(0) if m.group(1) else " ", body)
    return (head + body).rstrip(" \t")


def normalise(text: str) -> str:
    """``text`` normalised as the module docstring says; code keeps every byte but line ends."""
    lines = [line.rstrip(" \t") for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    flags = code_flags(lines)
    out: list[str] = []
    blanks = 0          # blank lines seen since the last non-blank one
    last_code = True    # whether that line was code (True at the start: leading blanks go)
    for line, is_code in zip(lines, flags):
        if not line and not is_code:
            blanks += 1
            continue
        if blanks and out:
            # Between two prose lines one blank line is enough; next to code keep them all.
            out += [""] * (1 if not (is_code or last_code) else blanks)
        blanks = 0
        out.append(line if is_code else _tidy_prose(line))
        last_code = is_code
    return "\n".join(out).strip("\n")


def prose_of(text: str) -> str:
    """What refusals are sought in: ``text`` with each run of code lines and each `inline code`
    span replaced by a placeholder (so that a reply that is mostly code does not read as empty)."""
    lines = text.split("\n")
    kept: list[str] = []
    for is_code, run in groupby(zip(lines, code_flags(lines)), key=lambda pair: pair[1]):
        kept += ["", "[code]", ""] if is_code else [line for line, _ in run]
    return INLINE_CODE.sub("CODE", "\n".join(kept))


def _change_dialogue(dialogue: str, change) -> str:
    """``change`` applied to each turn of an hh-rlhf dialogue, its speaker markers kept: chosen and
    rejected share their first turns, and a turn is changed the same way in both."""
    lead, parts = hh_split(dialogue)
    return hh_join(lead, [(marker, role, change(content)) for marker, role, content in parts])


def _change_turns(value, change) -> None:
    """``change`` applied to the text of one turn or of a list of turns, in place."""
    for turn in value if isinstance(value, list) else [value]:
        for key in ("content", "value"):
            if isinstance(turn, dict) and isinstance(turn.get(key), str):
                turn[key] = change(turn[key])


def map_text(record: dict, change) -> dict:
    """``change`` applied to every text field of ``record`` in place (TEXT_KEYS and chat turns)."""
    for key, value in record.items():
        if isinstance(value, str) and str(key).lower() in TEXT_KEYS:
            try:
                record[key] = _change_dialogue(value, change) if layout_is_hh(record, key) else change(value)
            except Unusable:   # not a dialogue after all: judged (and dropped) by the checks
                record[key] = change(value)
        elif key in TURN_KEYS and isinstance(value, (dict, list)):
            _change_turns(value, change)
    # Chat turns: OpenAI-style messages[].content and ShareGPT-style conversations[].value, at the
    # top or under "input" (OpenAI's preference files: {"input": {"messages": [...]}, ...}).
    for holder in (record, record.get("input")):
        for listing, key in (("messages", "content"), ("conversations", "value")):
            turns = holder.get(listing) if isinstance(holder, dict) else None
            for turn in turns if isinstance(turns, list) else ():
                if isinstance(turn, dict) and isinstance(turn.get(key), str):
                    turn[key] = change(turn[key])
    return record


def normalise_record(record: dict) -> dict:
    return map_text(record, normalise)


def check_empty(record: dict):
    # The response as the record's layout names it: output, generation, response, answer, turns.
    k = kind(record)
    if k != "text" and not response_text(record).strip():
        return "empty", "output is empty" if k == "input-output" else "no assistant turn with content"
    if not main_text(record).strip():
        return "empty", "no text"
    return None


def request_text(record: dict) -> str:
    """What the response answers: the prompt, or the system and user turns of a chat."""
    try:
        seen = view(record)
    except Unusable:
        return ""
    if seen[0] == "chat":
        return "\n".join(m["content"] for m in seen[1] if m["role"] in ("system", "user"))
    return seen[1] if seen[0] == "supervised" else ""


def check_refusal(record: dict, rules: list[refusals.Rule]):
    found = refusals.find(prose_of(response_text(record)), rules, request_text(record))
    return None if found is None else ("refusal", found)


def check_length(record: dict, min_words: int, max_words: int | None):
    words = len(main_text(record).split())
    if words < min_words:
        return "too-short", f"{words} words < {min_words}"
    if max_words is not None and words > max_words:
        return "too-long", f"{words} words > {max_words}"
    return None


def judge_pair(record: dict, checks, sides: str):
    """A preference record's verdict: each response is judged as a prompt/response record with the
    checks, and the first response that fails drops the record (the detail names it). Refusals are
    sought in the response trained towards (chosen, a KTO completion labelled true) and, with
    --refusals-in both, in the other one too: a refusal as the rejected answer is what teaches a
    model not to refuse."""
    try:
        pair = pair_of(record)
    except Unusable as exc:
        return exc.reason, exc.detail
    prompt = prompt_text(pair)
    for name, response in pair.responses.items():
        wanted = name == "chosen" or (name == "completion" and pair.label)
        use = checks if wanted or sides == "both" else [c for c in checks if _check_name(c) != "refusal"]
        reason, detail = first_verdict({"input": prompt, "output": response}, use)
        if reason is not None:
            return reason, f"{name}: {detail}"
    return None, None


def _check_name(check) -> str:
    return getattr(getattr(check, "func", check), "__name__", "").removeprefix("check_")


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--phrases", type=Path, default=None,
                        help="a file of extra refusal phrases, one a line (# comments; a leading ^ "
                        "matches only at the start of the reply or of a sentence), added to the "
                        "built-in rules and prep/refusals.txt")
    parser.add_argument("--min-words", "--min_words", type=int, default=1,
                        help="drop records with fewer words than this (whole record)")
    parser.add_argument("--max-words", "--max_words", type=int, default=None,
                        help="drop records with more words than this (default: no limit)")
    parser.add_argument("--keep-refusals", "--keep_refusals", action="store_true",
                        help="normalise and length-filter only; keep records with refusals")
    parser.add_argument("--refusals-in", "--refusals_in", dest="refusals_in", choices=("chosen", "both"),
                        default="chosen", help="preference records: seek refusals in the chosen response "
                        "(and KTO completions labelled true) only, or in the rejected one too (both); "
                        "emptiness and length are judged on every response")
    add_engine(parser)


def judge(settings: dict):
    """The per-record work, in whichever process runs it (prep.core.engine): each record of a
    batch normalised, then the checks in order."""
    checks = [check_empty]
    if settings["rules"] is not None:
        checks.append(partial(check_refusal, rules=settings["rules"]))
    checks.append(partial(check_length, min_words=settings["min_words"], max_words=settings["max_words"]))
    sides = settings.get("refusals_in", "chosen")

    def verdict(record: dict):
        if pair_layout(record) is not None:
            return judge_pair(record, checks, sides)
        return first_verdict(record, checks)
    return lambda batch: ([(r, *verdict(r)) for r in map(normalise_record, batch)], {})


def run(args) -> int:
    rules = refusals.load_rules(args.phrases)
    work = Work(judge, {"rules": None if args.keep_refusals else rules, "min_words": args.min_words,
                        "max_words": args.max_words, "refusals_in": args.refusals_in})
    with Stage("clean", args.output, options_of(args), input_files(args.input), args.quiet) as stage:
        stage.extra["refusal_rules"] = len(rules)
        run_work(stage, read_records(args.input, args.max_record_bytes), work, args)
    if not args.quiet:
        print(f"clean: kept {stage.kept} of {stage.read_count}; dropped {dict(stage.dropped)}; "
              f"errors {stage.errors} -> {args.output}")
    return 0
