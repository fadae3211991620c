"""What a record is to the tokenizer under ``--mode``: a text, a supervised pair or a chat.

``job(record, mode, counters, fmt)`` returns ``("text", text)``, ``("supervised", input, output)``
or ``("chat", messages)``, or a ``Drop`` naming why the record cannot be tokenized. ``auto``
takes the record as prep.core.shapes reads it (every published layout, one prompt rule).
The other modes convert every record to one kind:

- text: everything becomes plain text (input and output joined by a newline, chat turns too);
- supervised: a chat trains on its last assistant turn, the earlier turns written as
  ``role: content`` lines followed by ``assistant: `` form the input (no template needed);
- chat: an input/output pair becomes one user turn and one assistant turn.

Then the prompt format (prep.tokenize.formats) lays each supervised pair out: chat template,
Stanford Alpaca prompt, raw, or the user's template; chats get the system prompt choice.
"""
from __future__ import annotations

import re
from collections import Counter

from prep.core.shapes import Unusable, prompt_parts, view
from prep.tokenize.chat import trim_to_last_answer
from prep.tokenize.formats import PromptFormat
from prep.tokenize.masking import Drop

MODES = ("auto", "text", "supervised", "chat")
# The side of a supervised pair each source key is on: an empty or missing one is counted as
# "empty-input" or "empty-output", the reasons this stage's stats have always used.
SIDES = {"instruction": "input", "input": "input", "prompt": "input", "output": "output",
         "generation": "output", "completion": "output", "text": "text"}


def _drop(exc: Unusable) -> Drop:
    if exc.reason == "not-text":
        return Drop("bad-field", exc.detail)
    if exc.reason in ("empty", "missing-field") and exc.key in SIDES:
        return Drop(f"empty-{SIDES[exc.key]}", exc.detail)
    return Drop(exc.reason, exc.detail)


def _seen(record: dict, counters: Counter):
    try:
        seen = view(record)
    except Unusable as exc:
        return _drop(exc)
    if seen[0] == "chat":
        messages = trim_to_last_answer(seen[1], counters)
        return messages if isinstance(messages, Drop) else ("chat", messages)
    return seen


def _formatted(job, record: dict, fmt: PromptFormat | None):
    """The job with the prompt format applied (supervised pairs) and the system choice (chats)."""
    if fmt is None or isinstance(job, Drop):
        return job
    if job[0] == "supervised":
        return fmt.supervised(job[1], job[2], prompt_parts(record, job[1]))
    if job[0] == "chat":
        return fmt.chat(job[1])
    return job


def _as_text(job):
    if job[0] == "chat":
        return ("text", "\n".join(m["content"] for m in job[1]))
    if job[0] == "supervised":
        return ("text", f"{job[1]}\n{job[2]}")
    return job


def _as_supervised(job):
    if job[0] == "chat":
        *before, answer = job[1]
        lines = "".join(f"{m['role']}: {m['content']}\n" for m in before)
        return ("supervised", f"{lines}assistant: ", answer["content"])
    if job[0] == "text":
        return Drop("not-supervised", "a text record has no input/output (use --mode auto or text)")
    return job


def _as_chat(job):
    if job[0] == "supervised":
        return ("chat", [{"role": "user", "content": job[1]}, {"role": "assistant", "content": job[2]}])
    if job[0] == "text":
        return Drop("not-chat", "a text record has no messages (use --mode auto or text)")
    return job


CONVERT = {"auto": lambda job: job, "text": _as_text, "supervised": _as_supervised, "chat": _as_chat}


def special_tokens_guard(tokenizer, allowed=(), check: bool = True):
    """(pattern, bos, eos): the tokenizer's own special tokens (EOS, BOS, chat markers...) less
    ``allowed`` as one pattern (None where ``check`` is off or there are none), and its BOS and EOS.

    Written inside a record's text they are encoded as the special token itself: an EOS in an
    answer would be trained as a stop in mid-sentence, a turn marker would fake a turn.
    """
    named = set(tokenizer.all_special_tokens)
    added = {tok.content for tok in getattr(tokenizer, "added_tokens_decoder", {}).values() if tok.special}
    tokens = sorted({t for t in named | added if t and t not in set(allowed)}, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, tokens))) if tokens and check else None
    return pattern, tokenizer.bos_token, tokenizer.eos_token


def _inner(text: str, bos: str | None, eos: str | None, head: bool, tail: bool) -> str:
    """The text less one BOS it starts with and one EOS it ends with: those two the masking code
    already takes as the example's own (never doubled), so only the ones inside are a problem."""
    if head and bos and text.startswith(bos):
        text = text[len(bos):]
    if tail and eos and text.rstrip().endswith(eos):
        text = text.rstrip()[:-len(eos)]
    return text


def _special_token_drop(job, guard: re.Pattern, bos: str | None, eos: str | None):
    if job[0] == "chat":
        texts = [(f"{m['role']} turn", m["content"]) for m in job[1]]
    elif job[0] == "supervised":
        texts = [("input", _inner(job[1], bos, eos, True, False)), ("output", _inner(job[2], bos, eos, False, True))]
    else:
        texts = [("text", _inner(job[1], bos, eos, True, True))]
    for side, text in texts:
        found = guard.search(text)
        if found is not None:
            return Drop("special-token-in-text", f"{found.group(0)!r} in the {side} at character {found.start()} "
                        "(pass --allow-special-tokens to keep it as the token)")
    return None


def job(record: dict, mode: str, counters: Counter, fmt: PromptFormat | None = None, guard=None):
    """What to tokenize for ``record`` under ``mode`` and the prompt format, or a ``Drop``.

    ``guard``: (pattern, bos, eos) of the special tokens that make a record unusable where its
    own text holds them.
    """
    seen = _seen(record, counters)
    if isinstance(seen, Drop):
        return seen
    if guard is not None:
        pattern, bos, eos = guard
        bad = _special_token_drop(seen, pattern, bos, eos) if pattern is not None else None
        if bad is not None:
            return bad
        if seen[0] == "supervised":  # the pair's own BOS and EOS go: the format and masking add them
            seen = ("supervised", _inner(seen[1], bos, eos, True, False), _inner(seen[2], bos, eos, False, True))
    return _formatted(CONVERT[mode](seen), record, fmt)
