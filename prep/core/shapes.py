"""Every record layout tunesmith reads, and the one rule that turns each into prompt + response or turns.

A published layout (``LAYOUTS``: alpaca, ShareGPT, OpenAI messages, prompt/generation, ...)
maps to one of three canonical shapes: ``{"text"}``, ``{"input", "output"}`` or
``{"messages": [{"role", "content"}]}``. Every stage sees a record through this module:
extract writes the canonical fields, clean judges ``response_text``, dedup, cluster, split and
stats compare ``main_text``, and tokenize (the stage and the runner's on-the-fly path) encodes
``view``. So a raw alpaca record and the record `prep extract jsonl` made of it give the same
token ids.

The one prompt rule: alpaca's instruction and its optional input become one prompt, the
instruction, a blank line and the input (``PROMPT_JOIN``); no input, the instruction alone.
Speakers go through one role map (``ROLES``). A value that is not text (a number, a list,
null where text is needed) makes the record unusable: it is rejected with a reason, never
spelled out or guessed at.
"""
from __future__ import annotations

import re
from typing import Callable, NamedTuple

# Between an alpaca instruction and its input.
PROMPT_JOIN = "\n\n"

# Every speaker spelling seen in published chat data -> the OpenAI role. ShareGPT dumps name
# the model after the service it came from; tool output has several names.
ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
         "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
         "bot": "assistant", "function_call": "assistant", "tool": "tool", "function": "tool",
         "observation": "tool"}
# What some alpaca-layout sets write in an empty input (Code Alpaca, self-instruct): no input.
NO_INPUT = {"<noinput>", "< noinput >", "<no input>"}


class Unusable(Exception):
    """The record has its layout's keys but no usable value: dropped with ``reason``."""

    def __init__(self, reason: str, detail: str, key: str | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.key = key  # the field at fault, where there is one


def text(record: dict, key: str, required: bool = True) -> str:
    """``record[key]`` as text; a missing optional key is ""; anything not a string is unusable."""
    value = record.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise Unusable("missing-field", f"no {key!r}", key)
    if not isinstance(value, str):
        raise Unusable("not-text", f"{key!r} holds {type(value).__name__}, not text", key)
    if required and not value.strip():
        raise Unusable("empty", f"{key!r} is empty", key)
    return value


def alpaca_prompt(instruction: str, extra: str) -> str:
    return instruction + (PROMPT_JOIN + extra if has_input(extra) else "")


def has_input(extra) -> bool:
    return isinstance(extra, str) and bool(extra.strip()) and extra.strip().lower() not in NO_INPUT


# The Stanford Alpaca prompt, as qlora.py's --dataset_format alpaca writes it: the format's
# name promises these exact strings.
ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response: ")
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response: ")


def alpaca_template(instruction: str, extra: str) -> str:
    template = ALPACA_WITH_INPUT if extra else ALPACA_NO_INPUT
    return template.format(instruction=instruction, input=extra)


def turns(raw, role_key: str = "role", content_key: str = "content") -> list[dict]:
    """A list of turns as [{role, content}] with speakers mapped through ``ROLES``.

    Keys other than the speaker and the text pass through (tool calls, names).
    """
    if not isinstance(raw, list):
        raise Unusable("bad-messages", f"expected a list of turns, got {type(raw).__name__}")
    messages = []
    for number, turn in enumerate(raw, 1):
        if not isinstance(turn, dict):
            raise Unusable("bad-messages", f"turn {number} is {type(turn).__name__}, not an object")
        speaker = turn.get(role_key, turn.get("role", turn.get("from")))
        role = ROLES.get(str(speaker).lower())
        if role is None:
            raise Unusable("bad-messages", f"turn {number}: unknown speaker {speaker!r} (known: "
                           f"{', '.join(sorted(ROLES))})")
        content = turn.get(content_key, turn.get("content", turn.get("value")))
        if not isinstance(content, str):
            raise Unusable("bad-messages", f"turn {number}: content is {type(content).__name__}, not text")
        rest = {k: v for k, v in turn.items() if k not in (role_key, content_key, "role", "from",
                                                           "content", "value")}
        messages.append({**rest, "role": role, "content": content})
    if not any(m["content"].strip() for m in messages):
        raise Unusable("empty", "no turn has any text")
    return messages


def prompt_pair(prompt_key: str, extra_key: str | None, response_key: str) -> Callable[[dict, str], dict]:
    """A mapper for a prompt (plus an optional extra joined by the prompt rule) and a response."""
    def mapper(record: dict, _text_key: str) -> dict:
        prompt = text(record, prompt_key)
        if extra_key is not None:
            prompt = alpaca_prompt(prompt, text(record, extra_key, required=False))
        return {"input": prompt, "output": text(record, response_key)}
    return mapper


# name -> (keys the layout needs, keys it may also use, mapper to canonical fields); ``text``
# stands for --text-key. Auto tries them in this order: the most specific keys first (alpaca
# also has "input", Dolly's context is optional in GPTeacher-style instruction/response sets).
def with_system(record: dict, messages: list[dict]) -> list[dict]:
    """A top-level ``system`` text (FastChat's ShareGPT files) becomes the first turn."""
    system = record.get("system")
    if isinstance(system, str) and system.strip() and not (messages and messages[0]["role"] == "system"):
        return [{"role": "system", "content": system}, *messages]
    return messages


LAYOUTS = {
    "messages": (("messages",), ("system",), lambda r, _k: {"messages": with_system(r, turns(r["messages"]))}),
    "sharegpt": (("conversations",), ("system",),
                 lambda r, _k: {"messages": with_system(r, turns(r["conversations"], "from", "value"))}),
    "alpaca": (("instruction", "output"), ("input",), prompt_pair("instruction", "input", "output")),
    "dolly": (("instruction", "context", "response"), (), prompt_pair("instruction", "context", "response")),
    "instruction-response": (("instruction", "response"), ("input",),
                             prompt_pair("instruction", "input", "response")),
    "prompt-generation": (("prompt", "generation"), (), prompt_pair("prompt", None, "generation")),
    "prompt-completion": (("prompt", "completion"), (), prompt_pair("prompt", None, "completion")),
    "prompt-response": (("prompt", "response"), (), prompt_pair("prompt", None, "response")),
    "question-answer": (("question", "answer"), (), prompt_pair("question", None, "answer")),
    "input-output": (("input", "output"), (), prompt_pair("input", None, "output")),
    "text": (("text",), (), lambda r, key: {"text": text(r, key)}),
}
ORDER = tuple(LAYOUTS)


def needed_keys(layout: str, text_key: str = "text") -> tuple[str, ...]:
    return (text_key,) if layout == "text" else LAYOUTS[layout][0]


def used_keys(layout: str, text_key: str = "text") -> tuple[str, ...]:
    """Every key the layout reads (what an extractor does not pass through as an unknown key)."""
    return needed_keys(layout, text_key) + LAYOUTS[layout][1]


def folded(record: dict) -> dict:
    """The record with lower-case keys ("Instruction" -> "instruction"), where no two keys collide."""
    lower = {str(k).lower(): v for k, v in record.items()}
    return lower if len(lower) == len(record) else record


def keyed(record: dict, layout: str, text_key: str = "text") -> dict:
    """The record as ``layout`` reads it: as it is, or with lower-case keys where its keys are capitalised."""
    return record if all(k in record for k in needed_keys(layout, text_key)) else folded(record)


def _match(record: dict, text_key: str) -> str | None:
    return next((name for name in ORDER if all(k in record for k in needed_keys(name, text_key))), None)


def layout_of(record: dict, text_key: str = "text") -> str | None:
    """The first layout whose keys the record has (in any letter case), or None."""
    return _match(record, text_key) or _match(folded(record), text_key.lower())


def canonical(record: dict, layout: str | None = None, text_key: str = "text") -> dict:
    """The canonical fields of ``record`` read as ``layout`` (auto when None); raises Unusable."""
    layout = layout or layout_of(record, text_key)
    if layout is None:
        raise Unusable("unknown-shape", f"keys {', '.join(sorted(map(str, record))[:12]) or 'none'}: none of "
                       + "; ".join("/".join(needed_keys(n, text_key)) for n in ORDER)
                       + " (name others with --map, e.g. --map output=answer_text)")
    if keyed(record, layout, text_key) is not record:
        record, text_key = folded(record), text_key.lower()
    return LAYOUTS[layout][2](record, text_key)


def parse_map(spec: str | None) -> dict[str, str]:
    """``"output=response,input=context"`` -> {"output": "response", "input": "context"}."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        ours, sep, theirs = (s.strip() for s in part.partition("="))
        if not sep or not ours or not theirs:
            raise ValueError(f"{part.strip()!r} is not KEY=SOURCE_KEY (e.g. output=response)")
        mapping[ours] = theirs
    return mapping


def renamed(record: dict, mapping: dict[str, str]) -> dict:
    """The record with each SOURCE_KEY of ``mapping`` renamed to its KEY (a key of that name already
    there gives way to the mapped one); other keys and the order are kept."""
    if not mapping:
        return record
    back = {theirs: ours for ours, theirs in mapping.items()}
    out: dict = {}
    for key, value in record.items():
        if key in back:
            out[back[key]] = value
        elif not (key in mapping and mapping[key] in record):
            out.setdefault(key, value)
    return out


def view(record: dict):
    """``("text", t)``, ``("supervised", prompt, response)`` or ``("chat", messages)``; raises Unusable."""
    fields = canonical(record)
    if "messages" in fields:
        return "chat", fields["messages"]
    if "output" in fields:
        return "supervised", fields["input"], fields["output"]
    return "text", fields["text"]


# Layouts whose prompt is an instruction plus an optional second part (input or context).
TWO_PART = {"alpaca": ("instruction", "input"), "dolly": ("instruction", "context"),
            "instruction-response": ("instruction", "input")}


def prompt_parts(record: dict, prompt: str) -> tuple[str, str]:
    """(instruction, input) behind ``prompt``: what the Stanford Alpaca format puts in its two sections.

    Read from a two-part layout, or from ``meta.prompt_parts`` that `prep extract jsonl` leaves
    on the records it joined; any other prompt is an instruction with no input.
    """
    layout = layout_of(record)
    if layout in TWO_PART:
        source = keyed(record, layout)
        first, second = TWO_PART[layout]
        extra = source.get(second)
        return source[first], extra if has_input(extra) else ""
    meta = record.get("meta")
    parts = meta.get("prompt_parts") if isinstance(meta, dict) else None
    if isinstance(parts, dict) and alpaca_prompt(str(parts.get("instruction", "")),
                                                 str(parts.get("input", ""))) == prompt:
        return parts["instruction"], parts.get("input") or ""
    return prompt, ""


def type_problem(record: dict) -> str | None:
    """Why a record of a known layout cannot be text at all (a number, list or null where its
    layout reads text; a turn whose content is not a string), or None. Emptiness is not a type
    problem: each stage decides what an empty field means."""
    if pair_layout(record) is not None:   # preference records: every problem but emptiness
        try:
            pair_of(record)
        except Unusable as exc:
            return None if exc.reason in ("empty", "missing-field") else exc.detail
        return None
    layout = layout_of(record)
    if layout is None:
        return None
    source = keyed(record, layout)
    if layout in ("messages", "sharegpt"):
        turns_ = source.get("messages", source.get("conversations"))
        if not isinstance(turns_, list):
            return f"{layout} holds {type(turns_).__name__}, not a list of turns"
        for number, turn in enumerate(turns_, 1):
            content = turn.get("content", turn.get("value")) if isinstance(turn, dict) else turn
            if not isinstance(content, str):
                return f"turn {number}: content is {type(content).__name__}, not text"
        return None
    for key in used_keys(layout):
        value = source.get(key)
        if key in source and not isinstance(value, str) and not (value is None and key not in needed_keys(layout)):
            return f"{key!r} holds {type(value).__name__}, not text"
    return None


def kind(record: dict) -> str:
    """'messages', 'input-output' or 'text': what the filters and the statistics see."""
    if pair_layout(record) is not None:
        return "input-output"
    layout = layout_of(record)
    if layout in ("messages", "sharegpt"):
        return "messages"
    return "text" if layout in (None, "text") else "input-output"


def _lenient(record: dict):
    """``view`` for judging and comparing: an unusable record still shows the text it has."""
    try:
        return view(record)
    except Unusable:
        parts = [v for k, v in record.items() if k in ("instruction", "input", "prompt", "text")
                 and isinstance(v, str)]
        answer = next((record[k] for k in ("output", "generation", "completion")
                       if isinstance(record.get(k), str)), "")
        return "supervised", "\n".join(parts), answer


def main_text(record: dict) -> str:
    """All the words of a record as one string (dedup, clustering, split groups, lengths); of a
    preference record its prompt and the chosen response (or the KTO completion)."""
    pair = _pair_lenient(record)
    if pair is not None:
        return f"{prompt_text(pair)}\n{next(iter(pair.responses.values()))}"
    seen = _lenient(record)
    if seen[0] == "chat":
        return "\n".join(m["content"] for m in seen[1])
    if seen[0] == "supervised":
        return f"{seen[1]}\n{seen[2]}".strip("\n")
    return seen[1]


def response_text(record: dict) -> str:
    """The side a model is trained to produce: the output, the assistant turns, the text, or a
    preference record's chosen response (KTO: its completion)."""
    pair = _pair_lenient(record)
    if pair is not None:
        return next(iter(pair.responses.values()))
    seen = _lenient(record)
    if seen[0] == "chat":
        return "\n".join(m["content"] for m in seen[1] if m["role"] == "assistant")
    return seen[2] if seen[0] == "supervised" else seen[1]


# Preference layouts: a prompt with a chosen and a rejected response, or (KTO) one completion with
# a true/false label (desirable or not). Each reads as a ``Pair``: the prompt as turns, the
# responses as texts by name.
# - prompt-chosen-rejected: prompt as text or turns (TRL's conversational layout); chosen and
#   rejected as texts, one turn or turn lists. UltraFeedback-binarized's lists repeat the prompt's
#   user turn: the turns the two lists share are then the prompt.
# - sharegpt-preference, messages-preference (LLaMA-Factory): the conversation is the prompt,
#   chosen and rejected one turn each.
# - chosen-rejected (hh-rlhf): two whole dialogues "\n\nHuman: ...\n\nAssistant: ...", or two turn
#   lists; the turns they share are the prompt, what follows in each is its response.
# - kto: prompt and completion (texts or turns) and a bool label; kto-messages: messages whose
#   last assistant turn is the completion, and a bool label.
PAIR_KEYS = (("prompt", "prompt-chosen-rejected"), ("conversations", "sharegpt-preference"),
             ("messages", "messages-preference"))
PAIR_LAYOUTS = ("prompt-chosen-rejected", "sharegpt-preference", "messages-preference", "chosen-rejected",
                "kto", "kto-messages")
# The speaker markers of hh-rlhf dialogues; the space after the colon is missing on some empty turns.
HH_MARKER = re.compile(r"\n\n(Human|Assistant):[ ]?")


class Pair(NamedTuple):
    layout: str
    prompt: list            # turns [{role, content}], a system turn included
    responses: dict         # {"chosen": text, "rejected": text} or {"completion": text}
    label: bool | None = None


def pair_layout(record: dict) -> str | None:
    """The preference layout whose keys the record has, or None (a KTO label must be a bool)."""
    if "chosen" in record and "rejected" in record:
        return next((name for key, name in PAIR_KEYS if key in record), "chosen-rejected")
    if isinstance(record.get("label"), bool):
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
        chosen, rejected = (_side_turns(record, k, "assistant") for k in ("chosen", "rejected"))
        n = _shared(chosen, rejected)
        if layout == "prompt-chosen-rejected":
            prompt = chosen[:n] or _side_turns(record, "prompt", "user")
        elif layout == "chosen-rejected":
            prompt = chosen[:n]
        else:
            key = "conversations" if layout == "sharegpt-preference" else "messages"
            prompt = turns(record[key], "from", "value") if key == "conversations" else turns(record[key])
        responses = {"chosen": _answer(chosen[n:], "chosen"), "rejected": _answer(rejected[n:], "rejected")}
    prompt = with_system(record, prompt)
    if not any(t["content"].strip() for t in prompt):
        raise Unusable("empty", "the prompt is empty", "prompt")
    return Pair(layout, prompt, responses, record.get("label") if layout.startswith("kto") else None)


def _pair_lenient(record: dict) -> Pair | None:
    if pair_layout(record) is None:
        return None
    try:
        return pair_of(record)
    except Unusable:
        return None


def prompt_text(pair: Pair) -> str:
    return "\n".join(t["content"] for t in pair.prompt)


def group_text(record: dict) -> str:
    """What keeps records together in a split: a preference record's prompt, else all its words."""
    pair = _pair_lenient(record)
    return main_text(record) if pair is None else prompt_text(pair)
