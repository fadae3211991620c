"""The pieces every layout is read with: one text field, the prompt rule, the speaker map, turns.

A value that is not text (a number, a list, null where text is needed) makes the record
unusable: ``Unusable`` carries the reason, never a guess at what was meant.
"""
from __future__ import annotations

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


# Top-level system prompt keys: FastChat's ShareGPT files and orca_dpo_pairs say "system",
# Open-Orca and SlimOrca-style exports "system_prompt".
SYSTEM_KEYS = ("system", "system_prompt")


def with_system(record: dict, messages: list[dict]) -> list[dict]:
    """A top-level system text (``SYSTEM_KEYS``) becomes the first turn, unless the turns open with one."""
    system = next((record[k] for k in SYSTEM_KEYS if isinstance(record.get(k), str) and record[k].strip()), None)
    if isinstance(system, str) and system.strip() and not (messages and messages[0]["role"] == "system"):
        return [{"role": "system", "content": system}, *messages]
    return messages


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
