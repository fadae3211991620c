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

from typing import Callable

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
    """All the words of a record as one string (dedup, clustering, split groups, lengths)."""
    seen = _lenient(record)
    if seen[0] == "chat":
        return "\n".join(m["content"] for m in seen[1])
    if seen[0] == "supervised":
        return f"{seen[1]}\n{seen[2]}".strip("\n")
    return seen[1]


def response_text(record: dict) -> str:
    """The side a model is trained to produce: the output, the assistant turns, or the text."""
    seen = _lenient(record)
    if seen[0] == "chat":
        return "\n".join(m["content"] for m in seen[1] if m["role"] == "assistant")
    return seen[2] if seen[0] == "supervised" else seen[1]
