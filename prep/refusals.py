"""Refusals and disclaimers in a response, found by rules that know where they stand.

A refusal is the assistant declining or failing the request ("I'm sorry, but I can't help
with that", "you didn't provide the lyrics") or speaking of itself as an AI ("As an AI
language model, I...", "as of my knowledge cutoff"). Words like "OpenAI" or "ethical
guidelines" are not refusals on their own: they are data in code and subjects of prose.

``find`` looks at the prose of a response only (the caller replaces code by a placeholder;
see prep.clean.prose_of) with quoted speech masked, so that a character's line in a story
or a phrase under discussion does not count. Text in another voice is judged less: a letter
written for the user only by the rules about the assistant itself, a staged scene not at all,
and the answer to a request for fiction or a letter by its first paragraph only. Each rule is named and matches either anywhere
in that prose (first person is part of the pattern) or only at the start of the reply or
of a sentence ("opening"), where a decline is the assistant's own voice. The phrases of
prep/refusals.txt and of --phrases FILE are rules too: plain phrases match anywhere at word
boundaries, phrases written with a leading ^ only at an opening.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from prep.core.errors import StageError

# Typographic quotes read as straight ones ("I’m" == "I'm", “x” == "x").
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
# Quoted speech on one line, up to this many characters, is masked before matching.
QUOTE_MAX_CHARS = 400
_QUOTED = re.compile(r'"[^"\n]{1,%d}"' % QUOTE_MAX_CHARS)
# A letter or email opening ("Dear Ms Lee,", "Hi Sam,", "Subject:"): the text that follows is
# written in the user's voice.
_SALUTATION = re.compile(r"\s*(?:(?i:(?:my )?dear(?:est)?\b|to whom it may concern\b|subject:)"
                         r"|(?:Hi|Hello|Hey) [A-Z][\w.-]*(?: [A-Z][\w.-]*)?,)")
# Replies in a voice other than the assistant's own. A screenplay or role-play with stage
# directions: no rule applies.
_STAGED = re.compile(r"(?m)^[ \t]*(?:FADE IN:|INT\. |EXT\. )|[(*](?:I|She|He|They|We) (?:look|smile|sigh|laugh|nod"
                     r"|shrug|glance|stare|grin|frown|whisper|lean|step|turn|pause|walk|reach)s?\b")
# A request for fiction, verse or a letter: only the reply's first paragraph is the assistant's.
_CREATIVE = re.compile(r"\b(?:write|compose|continue|draft|create)\b[^.?!\n]{0,60}?\b(?:story|stories|script"
                       r"|screenplay|scene|dialogue|poem|song|lyrics|letter|e-?mail|speech|novel|chapter|episode"
                       r"|monologue|narrative|fiction|tale)\b|\bwrite about\b|\b(?:pretend|role-?play|act as"
                       r"|stay in character)\b", re.IGNORECASE)
# Where a sentence starts: the text start, a line start, or after . ! ? and a space; list
# markers, headings, block quotes and emphasis in front of it are skipped.
_OPENINGS = re.compile(r"(?:^|\n|(?<=[.!?])[ \t]+)[ \t]*(?:(?:[-*+>]|\d+[.)]|#{1,6})[ \t]+)?(?:\*\*|__)?")


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern
    opening: bool = False   # True: only at the start of the reply or of a sentence
    about_self: bool = False  # the assistant describing itself: still applies inside letters
    # Lower-case words of which one must occur for a match: a quick test before the regex.
    needles: tuple[str, ...] = ()

    def search(self, text: str, openings: list[int]):
        if self.needles and not any(n in text.lower() for n in self.needles):
            return None
        if not self.opening:
            return self.pattern.search(text)
        return next((m for m in map(lambda at: self.pattern.match(text, at), openings) if m), None)


def rule(name: str, pattern: str, opening: bool = False) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE), opening, about_self=name.startswith("self"))


def phrase_rules(phrases: list[tuple[str, str]]) -> list[Rule]:
    """One rule per source and kind: plain phrases (anywhere, at word boundaries) or ``^phrase``
    (openings only), as one alternation, longest first, so that the detail is the most specific."""
    rules = []
    for source in dict.fromkeys(source for _, source in phrases):
        for opening in (False, True):
            words = sorted((p.lstrip("^").split() for p, s in phrases if s == source and p.startswith("^") == opening),
                           key=lambda w: -len(" ".join(w)))
            if words:
                body = "|".join(r"\ +".join(map(re.escape, w)) for w in words)   # any run of spaces between words
                needles = tuple(sorted({max(w, key=len) for w in words}))
                rules.append(Rule(f"phrase from {source}", re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE),
                                  opening, needles=needles))
    return rules


def load_phrases(extra: Path | None = None) -> list[tuple[str, str]]:
    """(phrase, source) for prep/refusals.txt and then ``extra``: one a line, # comments."""
    texts = [("refusals.txt", resources.files("prep").joinpath("refusals.txt").read_text(encoding="utf-8"))]
    if extra is not None:
        try:
            texts.append((Path(extra).name, Path(extra).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise StageError(f"--phrases {extra}: cannot read it as UTF-8 text ({exc})") from exc
    seen, phrases = set(), []
    for source, text in texts:
        for line in text.splitlines():
            line = " ".join(line.strip().lower().translate(_QUOTES).split())
            if line and not line.startswith("#") and line.lstrip("^ ") and line not in seen:
                seen.add(line)
                phrases.append((line, source))
    return phrases


def load_rules(extra: Path | None = None) -> list[Rule]:
    """The built-in rules, then the phrases of prep/refusals.txt and of ``extra``."""
    return [*builtin_rules(), *phrase_rules(load_phrases(extra))]


def openings(text: str) -> list[int]:
    return sorted({m.end() for m in _OPENINGS.finditer(text)})


def find(prose: str, rules: list[Rule], request: str = "") -> str | None:
    """``"RULE: matched 'WORDS'"`` for the first rule that matches ``prose``, else None.

    ``request`` is what the reply answers (the prompt, the user turns): a request for a story,
    a letter or a role-play leaves only the reply's first paragraph in the assistant's voice.
    """
    text = _QUOTED.sub('"Q"', prose.translate(_QUOTES))
    if _STAGED.search(text):
        return None
    if _CREATIVE.search(request):
        text = text.lstrip().split("\n\n", 1)[0]
    # A letter or email is written in the user's voice: its "I can't" and "I must decline"
    # are the user's, so only the rules about the assistant itself apply.
    letter = bool(_SALUTATION.match(text))
    starts = openings(text)
    for candidate in rules:
        if letter and not candidate.about_self:
            continue
        match = candidate.search(text, starts)
        if match is not None:
            return f"{candidate.name}: matched {match.group(0).strip()!r}"
    return None


# Pieces of the rules. Spaces in them are literal single spaces: normalised prose has no runs.
# Longest first, so that the detail shows "AI language model" rather than "AI".
_AI = (r"(?:(?:ai |text-based |large |natural )?language model(?: ai)?|(?:ai|machine learning|ml) model"
       r"|text-based (?:ai|model)|(?:ai|virtual|digital) assistant|artificial intelligence|computer program"
       r"|neural network|chat ?bot|llm|a\.i\.|ai)")
_ME_NEXT = r"(?=,?[^.!?\n]{0,80}?\b(?:i|i'm|my|me)\b)"
_BY = r"(?: (?:developed|created|trained|built|designed|made|programmed) by [\w.-]+)?"
_APOLOGY = (r"(?:(?:i'm|i am) (?:really |very |truly |so )?sorry|i apologi[sz]e|(?:my )?apologies|sorry"
            r"|unfortunately|regrettably)(?: (?:for|that|to hear|about|if|but)\b[^.!?\n]{0,80}?)?[,;:!]? ?"
            r"(?:(?:but|however),? )?")
_PREFIX = (r"(?:(?:unfortunately|however|but|regrettably|as such|currently|at this time|at the moment"
           r"|while|although|though|since|because|as|therefore|so|thus|hence|without [^,.!?\n]{1,80}),? ){0,2}")
_CANT = (r"(?:i(?:'m| am) (?:currently |still |simply |really )?(?:unable|not able) to"
         r"|i (?:currently |still |simply |really )?(?:can't|cannot|can not|won't be able to|will not be able to))"
         # Figures of speech, not declines: "I can't help but", "I cannot stress enough".
         r"(?! (?:help but|wait|believe|stress|emphasi[sz]e|thank|imagine|overstate|get enough|say enough))")
_ACTS = (r"(?:provide|assist|help|fulfill|fulfil|comply|create|generate|write|produce|engage|answer|complete"
         r"|do|browse|access|run|execute|perform|give|offer|support|condone|endorse|encourage|promote"
         r"|recommend|suggest|share|disclose|predict|guarantee|draw|display|show|send|open|view|see|read"
         r"|watch|listen|play|remember|recall|convert|implement|determine|verify|confirm|search|find|look"
         r"|process|say|tell|comment|reproduce|translate|summari[sz]e|rewrite|edit|format|identify"
         r"|recogni[sz]e|interpret|analy[sz]e|express|form|continue|respond|reply|discuss|speculate"
         r"|judge|evaluate|review|check|know|understand|physically|directly|actually|personally)\b")
_MISSING = (r"(?:you|it) (?:didn't|did not|haven't|have not|hasn't|has not|forgot to) (?:\w+ ){0,2}?"
            r"(?:provide|provided|include|included|share|shared|give|given|specify|specified|attach"
            r"|attached|paste|pasted|send|sent|mention|mentioned)\b"
            r"|(?:there|it) (?:is|was|are|were) no (?:\w+ ){0,2}?(?:text|information|code|input|data"
            r"|question|context|lyrics|article|content|attachment|link|file|document|details|message)\b"
            r"|(?:it|there) (?:doesn't|does not) (?:appear|seem) (?:that|to be|like)\b"
            r"|(?:the|your|this) (?:\w+ ){0,6}?(?:is|was|are) not (?:enough|sufficient) (?:information|context"
            r"|details?)\b"
            r"|(?:the|your) (?:\w+ ){0,6}?(?:does not|doesn't|did not|didn't) (?:include|contain|mention|have)"
            r" (?:any )?(?:information|mention|details?|text|content)\b"
            r"|(?:the|your) (?:\w+ ){0,2}?(?:text|message|input|question|request|code|link|lyrics|article"
            r"|prompt) (?:is|was|seems|appears) (?:to be )?(?:incomplete|missing|cut off|empty|unclear"
            r"|not (?:provided|included|complete|clear))\b")
_UNSURE = (r"i(?:'m| am) not (?:sure|certain|clear) (?:what|which|who|how|about what) (?:you|your|is|the)\b"
           r"|i(?:'m| am) not sure i (?:understand|follow|know)\b"
           r"|(?:as i (?:previously |already )?(?:mentioned|said|explained),? )?it(?:'s| is) not possible (?:for me )?to\b"
           r"|i (?:still |really )?(?:don't|do not|didn't|did not) (?:quite |fully )?(?:understand|know what you|get what you"
           r"|have (?:any |enough |specific |sufficient )?(?:information|details|data|context|knowledge)"
           r"|recogni[sz]e|follow)\b"
           r"|i (?:couldn't|could not|was unable to|wasn't able to) find (?:any )?(?:information|details"
           r"|data|anything|a|an|the)\b|i(?:'m| am) not (?:aware|familiar) (?:of|with)\b"
           r"|i (?:still )?(?:need|would need|require) (?:more|some|additional|further) (?:information|context|details)\b"
           r"|(?:can|could|would) you (?:please )?(?:provide|clarify|give|share|specify|rephrase|explain)"
           r" (?:me )?(?:with )?(?:more|some|additional|further)\b")


@cache
def builtin_rules() -> list[Rule]:
    """The built-in rules, compiled once on first use (not at import: the CLI starts faster)."""
    return [
        # The assistant calling itself an AI, or describing what it lacks as one.
        rule("self-ai", rf"\bas an? (?:[\w-]+ ){{0,2}}?{_AI}\b{_BY}{_ME_NEXT}"),
        rule("self-ai", rf"\bi(?:'m| am) (?:just |only |simply |merely |not |also )?(?:a |an )(?:[\w-]+ ){{0,3}}?{_AI}\b"),
        rule("self-ai", r"\bi(?:'m| am) not (?:a )?(?:human|person|real person|sentient being|conscious being)\b"),
        rule("self-ai", rf"\b(?:{_AI}|model)s? like (?:me|mine|myself)\b"),
        rule("self-ai", r"\b(?:i was|i've been|i have been|i am|i'm) (?:trained|developed|created|built|designed"
             r"|programmed|made) (?:by (?:openai|anthropic|google|meta|microsoft)|on (?:a |the )?(?:large |vast |huge"
             r" |massive )?(?:data|dataset|corpus|text|amount|collection))\b"),
        rule("self-ai", r"\bi(?:'m| am| have been| was) (?:programmed|designed) to\b"),
        rule("self-limits", r"\bmy (?:(?:last |latest )?knowledge|training)(?: data)?(?: base)? (?:cut-?off|update|date)"
             r"|\bas of my (?:last |latest |most recent )?(?:knowledge |training |information )?(?:update|cut-?off"
             r"|training|knowledge)\b|\bmy (?:knowledge|training data|information) (?:only )?(?:goes|extends"
             r"|is limited|is current)\b|\b(?:data|information|text) (?:that )?i (?:was|have been) trained on\b"
             r"|\bmy (?:training data|(?:natural )?language processing)\b"),
        rule("self-limits", r"\bi (?:don't|do not|cannot|can't) (?:have|possess|experience|feel) (?:any )?"
             r"(?:personal |human |real )?(?:opinions|beliefs|feelings|emotions|preferences|experiences|consciousness"
             r"|a physical (?:body|form)|a body)\b(?! (?:for|about|toward|towards|on)\b)"),
        rule("self-limits", r"\b(?:i(?:'m| am) (?:not able|unable) to|i (?:can't|cannot|can not|don't|do not))"
             r" (?:browse|access|search|surf|visit|open|click on|retrieve|look up) (?:the )?(?:internet|web|websites?"
             r"|urls?|links?|external|online|real-time|google|specific (?:websites?|links?|urls?))\b"
             r"|\bi (?:don't|do not) have (?:real-time |direct |live )?access to (?:the )?(?:internet|web|real-time"
             r"|current|live|external|online|up-to-date|your (?:personal|computer|files|screen|device|memories|system"
             r"|account))"),
        # Declining: at the start of the reply or of a sentence, in the assistant's own voice.
        rule("decline", rf"{_APOLOGY}(?:{_CANT}|i (?:won't|will not|must decline|must respectfully decline"
             rf"|have to decline))\b(?: \w+)?", opening=True),
        rule("decline", r"i (?:don't|do not) know the answer\b", opening=True),
        rule("decline", rf"{_PREFIX}{_CANT} (?:(?:\w+ )?(?:or|and) )?{_ACTS}", opening=True),
        rule("decline", r"\bit(?: is|'s| would(?: not)? be| was) (?:not |in|un)?(?:possible|appropriate|ethical"
             r"|feasible|able|responsible|right)(?: or \w+)? for me to\b"),
        rule("decline", r"\b(?:against|violates?|violating|violation of|go(?:es)? against|outside|beyond|within)"
             r" (?:the )?(?:scope of )?(?:my|openai's|openai) (?:\w+ ){0,2}?(?:programming|principles|guidelines"
             r"|polic(?:y|ies)|capabilit(?:y|ies)|abilities|purpose|scope|values|rules)\b"
             r"|\bbeyond the scope of (?:this|our) (?:platform|conversation|chat)\b"),
        rule("decline", r"\bi (?:must|have to|need to|will have to) (?:respectfully |politely )?(?:decline|refuse)\b"
             r"|\bi must (?:point out|inform you|clarify) that (?:the|this|your) (?:question|request|prompt|phrase"
             r"|wording|term|word|language)\b"),
        # Not doing the task for want of input, or not understanding it.
        rule("missing-input", rf"(?:{_APOLOGY})?(?:{_MISSING})", opening=True),
        rule("missing-input", rf"{_APOLOGY}(?:{_UNSURE})", opening=True),
        # A reply that is nothing but a short apology.
        rule("apology-only", r"^\s*(?:i'm|i am|sorry|i apologi[sz]e)[^.!?\n]{0,40}[.!]?\s*$"),
    ]
