"""Drop noise by language, quality and repetition rules, and find personal data and secrets.

Runs between clean and dedup. Each record is judged on the side a model learns to produce:
the output of instruction data, every assistant turn of a chat, the whole text of a text
record. Code and markdown tables are never judged by prose rules: they are taken out before
anything is measured, and a response that is mostly code is exempt from the quality checks
(counted as "exempt_code" in the stats); its language is read from the prose between the code
once that prose holds CODE_PROSE_CHARS (200) characters, else it is exempt from that check too.

Checks, in order; the first that fails drops the record, named by its rule:
  - language (--lang en,de,...): dropped when the language identified is not one of those
    and the model is at least --lang-threshold sure; an unsure guess keeps the record, and so
    does an answer in another language to a prompt in a wanted one ("Translate into French").
  - quality and repetition rules (--rules gopher,c4,fineweb; each rule's threshold is a
    flag; the README lists every rule, its source and why). Rules that judge a web page's
    shape apply to text records only (--text-records answer judges those as answers too, for
    chat transcripts kept in a text field); rules that measure a share skip prose shorter than
    --min-words-to-judge words.
  - personal data and secrets (--pii): e-mail and IP addresses, phone and payment card numbers,
    cloud keys, API tokens and private-key blocks in any text field, prompt side too.
    mask (the default) replaces each with a typed placeholder such as <EMAIL> and changes
    nothing else; drop drops the record ("pii"); keep only counts them.
A kept record is written back unchanged apart from masked spans; stats count every rule's
drops, the exempt records, languages seen and personal data found per kind.
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from functools import partial

from prep.clean import map_text, request_text
from prep.core.engine import first_verdict, run_work
from prep.core.errors import StageError
from prep.core.flags import add_common, add_engine
from prep.core.records import input_files, read_records
from prep.core.shapes import Unusable, kind, response_text, view
from prep.core.stage import Stage, options_of
from prep.core.work import Work
from prep.filter import language, pii
from prep.filter.rules import add_rule_arguments, chosen_rules, response_settings, verdicts
from prep.filter.text import Measured

# Below this many letters a language guess is noise (short answers: "Paris.", "42", "Yes").
MIN_LANGUAGE_LETTERS = 20
# A mostly-code answer's prose (its non-code lines, inline code masked) is read for its language
# from this many characters on: language.py measured the model's answer stable from 200 characters
# of text; below it, a line or two around a code block ("Here is the fix:") is not judged.
CODE_PROSE_CHARS = 150


def judged_texts(record: dict) -> list[str]:
    """What the rules read: each assistant turn of a chat, else the response (or the text)."""
    try:
        seen = view(record)
    except Unusable:   # judged by shapes' lenient reading below, as clean judges it
        seen = None
    if seen is not None and seen[0] == "chat":
        return [m["content"] for m in seen[1] if m["role"] == "assistant"]
    return [response_text(record)]


def new_counts() -> dict:
    """The counters kept in the stats beside the drops, in the order the stats list them."""
    return {"filter": {"exempt_code": 0, "too_short_to_judge": 0, "languages": Counter(),
                       "language_unsure": 0, "answer_in_other_language": 0},
            "pii_found": Counter()}


def wanted_languages(spec: str | None) -> set[str]:
    """--lang as a set of lower-case codes; what is not a language code is a usage error."""
    codes = [code.strip() for code in (spec or "").split(",") if code.strip()]
    odd = [code for code in codes if not re.fullmatch(r"[A-Za-z]{2,3}", code)]
    if odd:
        raise StageError(f"--lang {spec}: {', '.join(odd)} is not a language code; use ISO 639-1 "
                         "codes such as en, de, fr (comma-separated)")
    return {code.lower() for code in codes}


class Judge:
    """The language and rule checks with their counters (``counts``, the stats' "filter")."""

    def __init__(self, args):
        self.args = args
        self.rules = chosen_rules(args.rules, args.skip_rules)
        self.answers = response_settings(args, self.rules)
        self.wanted = wanted_languages(args.lang)
        self.counts = new_counts()["filter"]
        if self.wanted:
            self.threshold = language.DEFAULT_THRESHOLD if args.lang_threshold is None else args.lang_threshold

    def _guess(self, prose: str) -> tuple[str, float] | None:
        """(language, confidence) of ``prose``, or None when it is too short to tell."""
        if sum(c.isalpha() for c in prose) < MIN_LANGUAGE_LETTERS:
            return None
        return language.identify(prose)

    def _other(self, code: str, confidence: float) -> bool:
        return language.is_other_language(code, confidence, self.wanted, self.threshold)

    def language(self, measured: Measured) -> tuple[str | None, bool | None]:
        """(drop detail or None, whether the text is English as far as the rules need to know)."""
        guess = self._guess(measured.text) if self.wanted else None
        if guess is None:
            return None, None
        code, confidence = guess
        self.counts["languages"][code] += 1
        if self._other(code, confidence):
            return f"{code} ({confidence:.2f} sure), wanted {','.join(sorted(self.wanted))}", False
        if confidence < self.threshold:
            self.counts["language_unsure"] += 1
            return None, None
        return None, code == "en"

    def prompt_is_wanted(self, record: dict) -> bool:
        """An answer in another language to a prompt in a wanted one is a task (translate this),
        not noise: such records are kept and counted."""
        guess = self._guess(Measured(request_text(record)).text)
        if guess is None or self._other(*guess) or guess[1] < self.threshold:
            return False
        self.counts["answer_in_other_language"] += 1
        return True

    def __call__(self, record: dict):
        is_text = kind(record) == "text" and self.args.text_records == "page"
        measured = [Measured(t) for t in judged_texts(record)]
        prose = [m for m in measured if not m.is_code and m.words]
        # A mostly-code answer is still written in a language when its few prose lines are long:
        # 5 code lines and 7 of Spanish explanation (129 words) is a Spanish answer.
        spoken = prose + [m for m in measured if m.is_code and m.chars >= CODE_PROSE_CHARS]
        if not spoken:
            self.counts["exempt_code"] += 1
            return None
        joined = Measured("\n\n".join(m.text for m in spoken)) if len(spoken) > 1 else spoken[0]
        detail, english = self.language(joined)
        if detail is not None and (is_text or not self.prompt_is_wanted(record)):
            return "language", detail
        if not prose:  # the language was read from the prose between the code; no prose rule applies
            self.counts["exempt_code"] += 1
            return None
        if all(len(m.words) < self.args.min_words_to_judge for m in prose):
            self.counts["too_short_to_judge"] += 1
        for m in prose:
            failed = verdicts(self.rules, m, self.args if is_text else self.answers, is_text, english,
                              first_only=True)
            if failed:
                return next(iter(failed.items()))
        return None


def check_pii(record: dict, mode: str, found: Counter):
    seen: Counter = Counter()

    def masked(text: str) -> str:
        new, counts = pii.mask(text)
        seen.update(counts)
        return new

    if mode == "mask":
        map_text(record, masked)
        found.update(seen)
        return None
    map_text(record, lambda text: seen.update(hit.kind for hit in pii.find(text)) or text)
    found.update(seen)
    if mode == "drop" and seen:
        return "pii", ", ".join(f"{n} {k}" for k, n in sorted(seen.items()))
    return None


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--lang", default=None,
                        help="keep only these languages (ISO 639-1 codes, comma-separated, e.g. en or "
                        "en,de); default: no language check")
    parser.add_argument("--lang-threshold", type=float, default=None,
                        help="how sure the language model must be (0-1) before a record in another "
                        "language is dropped (default: the value measured on tests/data/filters/language)")
    parser.add_argument("--text-records", choices=("page", "answer"), default="page",
                        help="how records of the text layout are judged: as web pages (every rule) or "
                        "as answers (page-shape rules skipped, repetition judged as in answers): "
                        "use answer for chat transcripts or formatted training text in a text field")
    parser.add_argument("--pii", choices=("mask", "drop", "keep"), default="mask",
                        help="personal data and secrets: mask with typed placeholders, drop the record, "
                        "or keep it (counted either way)")
    add_rule_arguments(parser)
    add_engine(parser)


def judge(settings: argparse.Namespace):
    """The per-record work, in whichever process runs it (prep.core.engine): each record of a
    batch through the language and rule checks, then personal data; the counters per batch."""
    judge = Judge(settings)

    def batch(records: list[dict]):
        counts = new_counts()
        judge.counts = counts["filter"]
        checks = [judge, partial(check_pii, mode=settings.pii, found=counts["pii_found"])]
        return [(record, *first_verdict(record, checks)) for record in records], counts
    return batch


def run(args) -> int:
    wanted_languages(args.lang)   # a usage error stops here, before anything is written
    if args.lang_threshold is not None and not 0 <= args.lang_threshold <= 1:
        raise StageError(f"--lang-threshold must be between 0 and 1, not {args.lang_threshold}")
    pii.check_ready()   # before anything is written: --pii keep still counts
    # The flags alone (no handler function) travel to the workers.
    work = Work(judge, argparse.Namespace(**{k: v for k, v in vars(args).items() if not callable(v)}))
    with Stage("filter", args.output, options_of(args), input_files(args.input), args.quiet) as stage:
        stage.extra.update(new_counts())
        rules = chosen_rules(args.rules, args.skip_rules)
        run_work(stage, read_records(args.input, args.max_record_bytes), work, args)
        stage.extra["rules"] = [rule.name for rule in rules]
    found = stage.extra["pii_found"]
    if not args.quiet:
        print(f"filter: kept {stage.kept} of {stage.read_count}; dropped {dict(stage.dropped)}; "
              f"errors {stage.errors}; personal data {dict(found)} ({args.pii}) -> {args.output}")
    return 0
