"""The prompts of ``--sample_prompts FILE``, read before anything loads.

FILE is JSONL (``.jsonl``, ``.json``, ``.ndjson``) or plain text (any other name, one prompt a
line; blank lines skipped). A JSONL line is one of:

- a JSON string: the prompt;
- a list of turns (``[{"role", "content"}, ...]``, any speaker spelling prep.core.shapes knows);
- an object in any layout prep.core.shapes reads (alpaca, messages, ShareGPT, prompt/completion,
  ...): its prompt side is asked, its response side is kept as ``reference``; or an object with
  only a prompt key (``prompt``, ``instruction``, ``question``, ``input``).

A chat whose last turn is the assistant's has that turn taken off (it is the reference). A line
that cannot be read stops the run with ``FILE:LINE`` and the reason: the file is the user's own
short list, so a broken line is a typo to fix, not data to skip.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prep.core.errors import StageError
from prep.core.records import parse_json
from prep.core.shapes import LAYOUTS, Unusable, canonical, layout_of, prompt_parts, turns

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
PROMPT_ONLY_KEYS = ("prompt", "instruction", "question", "input")  # in this order of preference


@dataclass
class SamplePrompt:
    """One prompt: ``messages`` (a chat) or ``text`` with its alpaca ``parts`` (instruction, input)."""
    where: str
    text: str | None = None
    parts: tuple[str, str] = ("", "")
    messages: list[dict] | None = None
    reference: str | None = None
    shown: object = field(default=None)  # what the samples file shows as the prompt

    def record(self, placeholder: str) -> dict:
        """A training record with ``placeholder`` as its answer (read by the training data path)."""
        if self.messages is not None:
            return {"messages": [*self.messages, {"role": "assistant", "content": placeholder}]}
        return {"instruction": self.parts[0], "input": self.parts[1], "output": placeholder}


def _from_chat(where: str, messages: list[dict]) -> SamplePrompt:
    reference = None
    if messages and messages[-1]["role"] == "assistant":
        reference = messages[-1]["content"]
        messages = messages[:-1]
    if not any(m["role"] == "user" for m in messages):
        raise StageError(f"{where}: a chat prompt needs a user turn (it has {len(messages)} turns, none from "
                         "the user)")
    return SamplePrompt(where, messages=messages, reference=reference, shown=messages)


def _from_object(where: str, record: dict) -> SamplePrompt:
    if layout_of(record) in ("messages", "sharegpt"):
        return _from_chat(where, canonical(record)["messages"])
    if layout_of(record) not in (None, "text"):
        fields = canonical(record)
        parts = prompt_parts(record, fields["input"])
        return SamplePrompt(where, fields["input"], parts, reference=fields["output"], shown=fields["input"])
    for key in PROMPT_ONLY_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            extra = record.get("input") if key == "instruction" and isinstance(record.get("input"), str) else ""
            return _from_pair(where, value, extra)
    if layout_of(record) == "text":
        return _from_pair(where, canonical(record)["text"], "")
    raise StageError(f"{where}: no prompt in keys {', '.join(sorted(map(str, record))[:12]) or 'none'}: give a "
                     f"string, a list of turns, an object with one of {', '.join(PROMPT_ONLY_KEYS)}, or a "
                     f"record of a known layout ({', '.join(LAYOUTS)})")


def _from_pair(where: str, instruction: str, extra: str) -> SamplePrompt:
    text = instruction + (f"\n\n{extra}" if extra.strip() else "")
    return SamplePrompt(where, text, (instruction, extra if extra.strip() else ""), shown=text)


def _from_json(where: str, value) -> SamplePrompt:
    if isinstance(value, str):
        if not value.strip():
            raise StageError(f"{where}: the prompt is empty")
        return _from_pair(where, value, "")
    if isinstance(value, list):
        return _from_chat(where, turns(value))
    if isinstance(value, dict):
        return _from_object(where, value)
    raise StageError(f"{where}: a prompt is a JSON string, list of turns or object, not {type(value).__name__}")


def _from_array(path: str, text: str) -> list[SamplePrompt]:
    """A .json file holding one JSON array (how many instruction sets are published)."""
    try:
        items = parse_json(text)
    except ValueError as exc:
        raise StageError(f"--sample_prompts {path}: not a JSON array ({exc})") from None
    prompts = []
    for number, value in enumerate(items, 1):
        try:
            prompts.append(_from_json(f"{path}: item {number}", value))
        except Unusable as exc:
            raise StageError(f"{path}: item {number}: {exc.detail}") from None
    if not prompts:
        raise StageError(f"--sample_prompts {path}: the array is empty")
    return prompts


def read_prompts(path: str) -> list[SamplePrompt]:
    """Every prompt of ``path``; StageError naming FILE:LINE on the first line that cannot be read."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StageError(f"--sample_prompts {path}: cannot read it as UTF-8 text ({exc})") from None
    jsonl = file.suffix.lower() in JSONL_SUFFIXES
    if file.suffix.lower() == ".json" and "\n".join(lines).lstrip().startswith("["):
        return _from_array(path, "\n".join(lines))
    prompts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        if not jsonl:
            prompts.append(_from_pair(where, line, ""))
            continue
        try:
            value = parse_json(line)
        except ValueError as exc:  # parse_json's reason: bad syntax, NaN, lone surrogates
            raise StageError(f"{where}: not JSON ({exc}); a plain-text file (not {file.suffix}) takes one "
                             "prompt per line") from None
        try:
            prompts.append(_from_json(where, value))
        except Unusable as exc:
            raise StageError(f"{where}: {exc.detail}") from None
    if not prompts:
        raise StageError(f"--sample_prompts {path}: no prompts in it (blank lines only)")
    return prompts
