r"""Preference layouts: a prompt with a chosen and a rejected response, or (KTO) one completion with
a true/false label (desirable or not). Each reads as a ``Pair``: the prompt as turns, the
responses as texts by name.

- prompt-chosen-rejected: prompt as text or turns (TRL's conversational layout); chosen and
  rejected as texts, one turn or turn lists. UltraFeedback-binarized's lists repeat the prompt's
  user turn: the turns the two lists share are then the prompt.
- sharegpt-preference, messages-preference (LLaMA-Factory): the conversation is the prompt,
  chosen and rejected one turn each.
- chosen-rejected (hh-rlhf): two whole dialogues "\n\nHuman: ...\n\nAssistant: ...", or two turn
  lists; the turns they share are the prompt, what follows in each is its response.
- question-chosen-rejected (Intel/orca_dpo_pairs): system, question, chosen and rejected texts.
- openai-preference (OpenAI's and Azure's DPO files): input.messages, preferred_output and
  non_preferred_output (one assistant turn each).
- shp (stanfordnlp/SHP): history, human_ref_A, human_ref_B and labels (1: A is preferred, 0: B).
- kto: prompt and completion (texts or turns) and a label; kto-messages: messages whose last
  assistant turn is the completion, and a label. A label is true or false as JSON, 1 or 0, or
  the strings "true"/"false" (how CSV and pandas exports write it); it reads as a bool.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from prep.core.shapes.fields import ROLES, Unusable, turns, with_system

PAIR_KEYS = (("prompt", "prompt-chosen-rejected"), ("conversations", "sharegpt-preference"),
             ("messages", "messages-preference"), ("question", "question-chosen-rejected"))
PAIR_LAYOUTS = ("prompt-chosen-rejected", "sharegpt-preference", "messages-preference", "question-chosen-rejected",
                "chosen-rejected", "openai-preference", "shp", "kto", "kto-messages")
# Where a layout's prompt is a field of its own (text or turns).
PROMPT_KEY = {"prompt-chosen-rejected": "prompt", "question-chosen-rejected": "question"}
# The keys each layout with named response fields needs: (prompt, chosen, rejected) for OpenAI's
# files; SHP names its two replies A and B and says in "labels" which one people preferred.
OPENAI_KEYS = ("input", "preferred_output", "non_preferred_output")
SHP_KEYS = ("history", "human_ref_A", "human_ref_B", "labels")
# KTO label spellings -> desirable or not; anything else (2, "yes", a score) is no KTO label.
KTO_LABELS = {"true": True, "false": False, "1": True, "0": False}
# The speaker markers of hh-rlhf dialogues; the space after the colon is missing on some empty turns.
HH_MARKER = re.compile(r"\n\n(Human|Assistant):[ ]?")


class Pair(NamedTuple):
    layout: str
    prompt: list            # turns [{role, content}], a system turn included
    responses: dict         # {"chosen": text, "rejected": text} or {"completion": text}
    label: bool | None = None


def kto_label(value) -> bool | None:
    """A KTO label as a bool, or None where ``value`` is no KTO label (2, 0.5, "yes", null)."""
    if isinstance(value, str):
        return KTO_LABELS.get(value.strip().lower())
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    return None


def pair_layout(record: dict) -> str | None:
    """The preference layout whose keys the record has, or None (a KTO label must read as a bool)."""
    if "chosen" in record and "rejected" in record:
        return next((name for key, name in PAIR_KEYS if key in record), "chosen-rejected")
    if all(k in record for k in OPENAI_KEYS):
        return "openai-preference"
    if all(k in record for k in SHP_KEYS):
        return "shp"
    if kto_label(record.get("label")) is not None:
        if "prompt" in record and "completion" in record:
            return "kto"
        if "messages" in record:
            return "kto-messages"
    return None


def hh_split(dialogue: str) -> tuple[str, list[tuple[str, str, str]]]:
    """(text before the first turn, [(marker, role, content)]) of an hh-rlhf dialogue, so that
    ``hh_join`` gives the same string back."""
    marks = list(HH_MARKER.finditer(dialogue))
    if not marks:
        raise Unusable("bad-dialogue", "no \"\\n\\nHuman:\" or \"\\n\\nAssistant:\" turn in the dialogue")
    ends = [m.start() for m in marks[1:]] + [len(dialogue)]
    return dialogue[:marks[0].start()], [(m.group(0), ROLES[m.group(1).lower()], dialogue[m.end():end])
                                         for m, end in zip(marks, ends)]


def hh_join(lead: str, parts: list[tuple[str, str, str]]) -> str:
    return lead + "".join(marker + content for marker, _, content in parts)


def _side_turns(record: dict, key: str, role: str) -> list[dict]:
    """A response or prompt field as turns: a text (one turn of ``role``), one turn, or a list."""
    value = record.get(key)
    if value is None:
        raise Unusable("missing-field", f"no {key!r}", key)
    if isinstance(value, str):
        if layout_is_hh(record, key):
            lead, parts = hh_split(value)
            if lead.strip():
                raise Unusable("bad-dialogue", f"{key!r} has text before its first turn")
            return [{"role": r, "content": c} for _, r, c in parts]
        return [{"role": role, "content": value}]
    if not isinstance(value, (dict, list)):
        raise Unusable("not-text", f"{key!r} holds {type(value).__name__}, not text or turns", key)
    return turns([value] if isinstance(value, dict) else value)


def layout_is_hh(record: dict, key: str) -> bool:
    return key in ("chosen", "rejected") and pair_layout(record) == "chosen-rejected"


def _answer(tail: list[dict], key: str) -> str:
    if len(tail) != 1 or tail[0]["role"] != "assistant":
        raise Unusable("bad-pair", f"{key!r}: {len(tail)} turn(s) after the prompt "
                       f"({', '.join(t['role'] for t in tail) or 'none'}); one assistant turn expected", key)
    if not tail[0]["content"].strip():
        raise Unusable("empty", f"the {key} response is empty", key)
    return tail[0]["content"]


def _shared(a: list[dict], b: list[dict]) -> int:
    """How many leading turns two lists share (never all of the shorter one)."""
    n = 0
    while n < min(len(a), len(b)) - 1 and (a[n]["role"], a[n]["content"]) == (b[n]["role"], b[n]["content"]):
        n += 1
    return n


def _named_sides(record: dict, layout: str) -> tuple[list[dict], list[dict], list[dict]]:
    """(prompt, chosen, rejected) turns of a layout that names its two responses by other keys."""
    if layout == "openai-preference":
        held = record["input"]
        prompt = held.get("messages") if isinstance(held, dict) else held
        return turns(prompt), *(_side_turns(record, k, "assistant") for k in OPENAI_KEYS[1:])
    label = record["labels"]
    if isinstance(label, bool) or label not in (0, 1):
        raise Unusable("bad-label", f"'labels' holds {label!r}: 1 (human_ref_A preferred) or 0 (human_ref_B) expected",
                       "labels")
    first, second = ("human_ref_A", "human_ref_B") if label == 1 else ("human_ref_B", "human_ref_A")
    return (_side_turns(record, "history", "user"), _side_turns(record, first, "assistant"),
            _side_turns(record, second, "assistant"))


def pair_of(record: dict) -> Pair:
    """The record as a ``Pair``; raises Unusable (missing-field, bad-label, bad-pair, ...)."""
    layout = pair_layout(record)
    if layout is None:
        if "prompt" in record and "completion" in record and "label" in record:
            raise Unusable("bad-label", f"'label' holds {type(record['label']).__name__} "
                           f"{record['label']!r}, not true or false", "label")
        missing = [k for k in ("chosen", "rejected") if k not in record]
        raise Unusable("missing-field" if len(missing) == 1 else "unknown-shape",
                       f"no {' or '.join(map(repr, missing))}" if len(missing) == 1 else
                       f"keys {', '.join(sorted(map(str, record))[:12])}: not one of {', '.join(PAIR_LAYOUTS)}")
    if layout in ("kto", "kto-messages"):
        if layout == "kto":
            prompt, tail = _side_turns(record, "prompt", "user"), _side_turns(record, "completion", "assistant")
        else:
            messages = turns(record["messages"])
            prompt, tail = messages[:-1], messages[-1:]
        responses = {"completion": _answer(tail, "completion")}
    else:
        if layout in ("openai-preference", "shp"):
            prompt, chosen, rejected = _named_sides(record, layout)
            n = 0
        else:
            chosen, rejected = (_side_turns(record, k, "assistant") for k in ("chosen", "rejected"))
            n = _shared(chosen, rejected)
        if layout in PROMPT_KEY:
            prompt = chosen[:n] or _side_turns(record, PROMPT_KEY[layout], "user")
        elif layout == "chosen-rejected":
            prompt = chosen[:n]
        elif layout in ("sharegpt-preference", "messages-preference"):
            key = "conversations" if layout == "sharegpt-preference" else "messages"
            prompt = turns(record[key], "from", "value") if key == "conversations" else turns(record[key])
        responses = {"chosen": _answer(chosen[n:], "chosen"), "rejected": _answer(rejected[n:], "rejected")}
    prompt = with_system(record, prompt)
    if not any(t["content"].strip() for t in prompt):
        raise Unusable("empty", "the prompt is empty", "prompt")
    return Pair(layout, prompt, responses, kto_label(record.get("label")) if layout.startswith("kto") else None)


def lenient_pair(record: dict) -> Pair | None:
    if pair_layout(record) is None:
        return None
    try:
        return pair_of(record)
    except Unusable:
        return None


def prompt_text(pair: Pair) -> str:
    return "\n".join(t["content"] for t in pair.prompt)
