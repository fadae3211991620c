"""The rule table: every named quality rule, its set, where it applies and its thresholds as flags.

A rule is a small function over a ``Measured`` text returning None (pass) or the detail of
why it fails ("0.41 of lines repeat > 0.3"). Rules come in the sets of their sources
(gopher, c4, fineweb; the modules of those names hold them) and each says where it applies:
- ``all``: the response of instruction data and the whole of text records;
- ``text``: text records only. These rules judge the shape of a web page (its length, its
  share of list lines, of short lines, of lines ending in punctuation): a short answer or a
  list of ten tips is a good response, so they would drop good instruction data.
Rules that measure a share need material to measure: prose under --min-words-to-judge words
passes them all (a share of a five-word answer is noise, not evidence).

Repetition in answers: the published repetition thresholds (20-30% of lines or characters,
10-15% in repeated n-grams) were set on web pages. Good answers repeat their own structure
("During the reign of Cleon IV, ... During the reign of Cleon V, ..."): among the 101 good
answers of 50+ words in tests/data/filters/quality and the real sets beside it, repeated
5-grams covered up to 0.40 of characters and repeated paragraphs up to 0.32, while a model
caught in a loop repeats nearly all of it (0.99). So in answers each repetition rule fires
above --response-repeat-share (0.5) or its own threshold, whichever is higher.
"""
from __future__ import annotations

import argparse

from prep.core.errors import StageError
from prep.filter import c4, fineweb, gopher
from prep.filter.rule import Rule
from prep.filter.text import Measured


def rule_table() -> list[Rule]:
    """Every rule of the three sets, in the order they run."""
    return [*gopher.RULES, *c4.RULES, *fineweb.RULES]


FAMILIES = ("gopher", "c4", "fineweb")
# Gopher's own minimum document (words): below it a share says little.
MIN_WORDS_TO_JUDGE = 50
# The share of an answer a repetition rule needs before it fires (see the module docstring).
RESPONSE_REPEAT_SHARE = 0.5
# Rules left out unless named: below 0.95 precision on the labelled web sample (README).
DEFAULT_SKIPPED = ("c4_curly_bracket", "fineweb_line_punct", "fineweb_short_lines")


def add_rule_arguments(parser) -> None:
    group = parser.add_argument_group("quality rules (thresholds as published; see the README)")
    group.add_argument("--rules", default=",".join(FAMILIES),
                       help="comma-separated rule sets to run (gopher, c4, fineweb), or none")
    group.add_argument("--skip-rules", default=",".join(DEFAULT_SKIPPED),
                       help="comma-separated rule names to leave out (pass an empty string to run "
                       "every rule of the chosen sets)")
    group.add_argument("--response-repeat-share", type=float, default=RESPONSE_REPEAT_SHARE,
                       help="in answers (not text records) a repetition rule fires only above this "
                       "share or its own threshold, whichever is higher")
    group.add_argument("--min-words-to-judge", type=int, default=MIN_WORDS_TO_JUDGE,
                       help="prose words a text needs before the share rules judge it")
    for rule in rule_table():
        for param in rule.params:
            group.add_argument(param.flag, type=type(param.default), default=param.default,
                               help=f"{rule.name}: {param.help}")


def chosen_rules(sets: str, skip: str) -> list[Rule]:
    """The rules of the named sets minus the skipped names; unknown names are a usage error."""
    wanted = [s.strip() for s in sets.split(",") if s.strip() and s.strip() != "none"]
    unknown = sorted(set(wanted) - set(FAMILIES))
    table = rule_table()
    names = {rule.name for rule in table}
    skipped = {s.strip() for s in skip.split(",") if s.strip()}
    if unknown:
        raise StageError(f"--rules: unknown set(s) {', '.join(unknown)}; the sets are {', '.join(FAMILIES)}")
    if skipped - names:
        raise StageError(f"--skip-rules: unknown rule(s) {', '.join(sorted(skipped - names))}; "
                         f"the rules are {', '.join(sorted(names))}")
    return [rule for rule in table if rule.family in wanted and rule.name not in skipped]


def response_settings(settings, rules: list[Rule]) -> argparse.Namespace:
    """``settings`` with each repetition threshold raised to --response-repeat-share (answers)."""
    raised = argparse.Namespace(**vars(settings))
    for rule in rules:
        for param in rule.params if rule.repetition else ():
            setattr(raised, param.dest, max(getattr(settings, param.dest), settings.response_repeat_share))
    return raised


def applies(rule: Rule, measured: Measured, is_text_record: bool, english: bool | None,
            min_words: int) -> bool:
    if rule.scope == "text" and not is_text_record:
        return False
    if rule.english and english is False:
        return False
    if rule.spaced and measured.unspaced:
        return False
    return not (rule.judges_shares and len(measured.words) < min_words)


def verdicts(rules: list[Rule], measured: Measured, settings, is_text_record: bool,
             english: bool | None = None, first_only: bool = False) -> dict[str, str]:
    """Failing rule -> its detail: every one (tests), or the first (the stage drops on it).

    ``settings`` for an answer is ``response_settings(...)``; for a text record the flags as given.
    """
    failed = {}
    for rule in rules:
        if applies(rule, measured, is_text_record, english, settings.min_words_to_judge):
            detail = rule.check(measured, settings)
            if detail is not None:
                failed[rule.name] = detail
                if first_only:
                    break
    return failed
