"""The instruction-data shapes that `prep extract jsonl` knows, each the keys it needs and a mapper.

A mapper takes the source object and returns the record's new fields ({text}, {input,
output} or {messages}); it raises ``Unusable`` with a drop reason when the keys are there
but the values cannot make a record (not text, empty, an unknown speaker).
"""
from __future__ import annotations

from typing import Callable


class Unusable(Exception):
    """The record has its shape's keys but no usable value: dropped with ``reason``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ShareGPT speakers -> chat roles. Several dumps name the model after the service it came from.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
                  "system": "system", "tool": "tool", "function": "tool", "observation": "tool"}
CHAT_ROLES = {"system", "user", "assistant", "tool"}


def text(record: dict, key: str, required: bool = True) -> str:
    """``record[key]`` as a string; numbers are spelled out, anything else is unusable."""
    value = record.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise Unusable("not-text", f"{key!r} holds {type(value).__name__}, not text")
    if required and not value.strip():
        raise Unusable("empty", f"{key!r} is empty")
    return value


def from_text(record: dict, text_key: str) -> dict:
    return {"text": text(record, text_key)}


def from_input_output(record: dict, _text_key: str) -> dict:
    return {"input": text(record, "input"), "output": text(record, "output")}


def from_alpaca(record: dict, _text_key: str) -> dict:
    """instruction + a blank line + input (when there is one) is the prompt."""
    extra = text(record, "input", required=False)
    prompt = text(record, "instruction") + ("\n\n" + extra if extra.strip() else "")
    return {"input": prompt, "output": text(record, "output")}


def pair(prompt_key: str, response_key: str) -> Callable[[dict, str], dict]:
    return lambda record, _text_key: {"input": text(record, prompt_key), "output": text(record, response_key)}


def chat(turns, role_key: str, content_key: str, roles: dict) -> list[dict]:
    """A list of turns as [{role, content}], with the speakers mapped through ``roles``."""
    if not isinstance(turns, list):
        raise Unusable("bad-messages", f"expected a list of turns, got {type(turns).__name__}")
    messages = []
    for number, turn in enumerate(turns, 1):
        if not isinstance(turn, dict):
            raise Unusable("bad-messages", f"turn {number} is {type(turn).__name__}, not an object")
        role = roles.get(str(turn.get(role_key)).lower())
        if role is None:
            raise Unusable("bad-messages", f"turn {number}: unknown {role_key} {turn.get(role_key)!r}")
        messages.append({"role": role, "content": text(turn, content_key, required=False)})
    if not any(m["content"].strip() for m in messages):
        raise Unusable("empty", "no turn has any text")
    return messages


def from_sharegpt(record: dict, _text_key: str) -> dict:
    return {"messages": chat(record["conversations"], "from", "value", SHAREGPT_ROLES)}


def from_messages(record: dict, _text_key: str) -> dict:
    return {"messages": chat(record["messages"], "role", "content", {r: r for r in CHAT_ROLES})}


# name -> (keys the shape needs, mapper). ``text`` stands for --text-key.
SHAPES = {
    "messages": (("messages",), from_messages),
    "sharegpt": (("conversations",), from_sharegpt),
    "alpaca": (("instruction", "output"), from_alpaca),
    "prompt-generation": (("prompt", "generation"), pair("prompt", "generation")),
    "prompt-completion": (("prompt", "completion"), pair("prompt", "completion")),
    "input-output": (("input", "output"), from_input_output),
    "text": (("text",), from_text),
}
# The order auto tries them in: the most specific keys first (alpaca also has "input").
ORDER = tuple(SHAPES)


def needed_keys(shape: str, text_key: str) -> tuple[str, ...]:
    needs = SHAPES[shape][0]
    return (text_key,) if shape == "text" else needs
