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
         "bot": "assistant", "tool": "tool", "function": "tool", "observation": "tool"}


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
    return instruction + (PROMPT_JOIN + extra if extra.strip() else "")


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


def from_alpaca(record: dict, _text_key: str) -> dict:
    prompt = alpaca_prompt(text(record, "instruction"), text(record, "input", required=False))
    return {"input": prompt, "output": text(record, "output")}


def pair(prompt_key: str, response_key: str) -> Callable[[dict, str], dict]:
    return lambda record, _text_key: {"input": text(record, prompt_key), "output": text(record, response_key)}


# name -> (keys the layout needs, mapper to canonical fields). ``text`` stands for --text-key.
# Tried in this order by auto: the most specific keys first (alpaca also has "input").
LAYOUTS = {
    "messages": (("messages",), lambda r, _k: {"messages": turns(r["messages"])}),
    "sharegpt": (("conversations",), lambda r, _k: {"messages": turns(r["conversations"], "from", "value")}),
    "alpaca": (("instruction", "output"), from_alpaca),
    "prompt-generation": (("prompt", "generation"), pair("prompt", "generation")),
    "prompt-completion": (("prompt", "completion"), pair("prompt", "completion")),
    "input-output": (("input", "output"), pair("input", "output")),
    "text": (("text",), lambda r, key: {"text": text(r, key)}),
}
ORDER = tuple(LAYOUTS)


def needed_keys(layout: str, text_key: str = "text") -> tuple[str, ...]:
    return (text_key,) if layout == "text" else LAYOUTS[layout][0]


def layout_of(record: dict, text_key: str = "text") -> str | None:
    """The first layout whose keys the record has, or None."""
    return next((name for name in ORDER if all(k in record for k in needed_keys(name, text_key))), None)


def canonical(record: dict, layout: str | None = None, text_key: str = "text") -> dict:
    """The canonical fields of ``record`` read as ``layout`` (auto when None); raises Unusable."""
    layout = layout or layout_of(record, text_key)
    if layout is None:
        raise Unusable("unknown-shape", f"keys {', '.join(sorted(map(str, record))[:12]) or 'none'}: none of "
                       + "; ".join("/".join(needed_keys(n, text_key)) for n in ORDER))
    return LAYOUTS[layout][1](record, text_key)


def view(record: dict):
    """``("text", t)``, ``("supervised", prompt, response)`` or ``("chat", messages)``; raises Unusable."""
    fields = canonical(record)
    if "messages" in fields:
        return "chat", fields["messages"]
    if "output" in fields:
        return "supervised", fields["input"], fields["output"]
    return "text", fields["text"]


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
