"""A quality rule and its thresholds: what prep/filter/gopher.py, c4.py and fineweb.py declare."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Param:
    flag: str           # the command-line flag, e.g. "--max-dup-line-share"
    default: float
    help: str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Rule:
    name: str                       # the drop reason, e.g. "gopher_dup_lines"
    family: str                     # gopher | c4 | fineweb
    check: Callable                 # (Measured, settings) -> detail str when it fails, else None
    why: str                        # one line for the README and --help
    scope: str = "all"              # all | text (see the module docstring)
    english: bool = False           # reads English words: skipped for records in another language
    judges_shares: bool = True      # needs --min-words-to-judge words of prose
    repetition: bool = False        # a repetition share: judged at --response-repeat-share in answers
    spaced: bool = False            # counts whitespace words: skipped for text in a script without spaces
    params: tuple[Param, ...] = field(default_factory=tuple)
