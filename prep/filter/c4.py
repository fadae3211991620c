"""C4's page rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section 2.2).

C4 removed each line that named JavaScript and dropped pages with "lorem ipsum" or a curly
bracket. This stage keeps or drops whole records and never edits one, so the JavaScript rule
drops a record with a JavaScript notice ("please enable JavaScript"), not every text that
names the language: instruction data is full of good answers about JavaScript.
"""
from __future__ import annotations

import re

from prep.filter.rule import Rule
from prep.filter.text import Measured

# A notice line: names JavaScript and tells the reader to enable it or that it is missing.
_JS_NOTICE = re.compile(r"javascript", re.I)
_JS_NOTICE_WORDS = re.compile(r"\b(?:enabl\w*|disabl\w*|turn(?:ed)? on|switch(?:ed)? on|requires? javascript|"
                              r"javascript (?:is )?required|(?:does not|doesn't|not) support\w* javascript)\b", re.I)
# Notices are short lines (words); a long prose line naming JavaScript and "browser" is an article.
NOTICE_MAX_WORDS = 30


def lorem_ipsum(m: Measured, s) -> str | None:
    return "placeholder text (lorem ipsum)" if "lorem ipsum" in m.text.lower() else None


def javascript_notice(m: Measured, s) -> str | None:
    if "javascript" not in m.text.lower():
        return None
    for line in m.lines:
        if _JS_NOTICE.search(line) and _JS_NOTICE_WORDS.search(line) and len(line.split()) <= NOTICE_MAX_WORDS:
            return f"a JavaScript notice: {line[:80]!r}"
    return None


def curly_bracket(m: Measured, s) -> str | None:
    at = m.text.find("{")
    return None if at < 0 else f"a curly bracket in prose: {m.text[max(0, at - 30):at + 30]!r}"


RULES = (
    Rule("c4_lorem_ipsum", "c4", lorem_ipsum, "no lorem ipsum placeholder text (code is not read)",
         judges_shares=False),
    Rule("c4_javascript", "c4", javascript_notice, "no 'enable JavaScript' notice lines", judges_shares=False),
    Rule("c4_curly_bracket", "c4", curly_bracket, "no curly bracket in the prose of a web document: "
         "scripts and styles that extraction let through", scope="text", judges_shares=False),
)
