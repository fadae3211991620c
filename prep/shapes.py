"""What a record is to the tokenizer: a text, a supervised pair or a chat, per ``--mode``.

``job(record, mode)`` returns ``("text", text)``, ``("supervised", input, output)`` or
``("chat", messages)``, or a ``Drop`` naming why the record cannot be tokenized. ``auto``
decides per record from its keys (``prep.records.kind``), also for raw inputs that no stage
mapped yet: ``{prompt, generation}``, sharegpt's ``{conversations: [{from, value}]}`` and
alpaca's ``{instruction, input, output}`` (whose input becomes the instruction, a newline and
the input when there is one, then a newline so that the answer starts on a line of its own).
The other modes convert every record to one kind:

- text: everything becomes plain text (input and output joined by a newline, chat turns too);
- supervised: a chat trains on its last assistant turn, the earlier turns written as
  ``role: content`` lines followed by ``assistant: `` form the input (no template needed);
- chat: an input/output pair becomes one user turn and one assistant turn.
"""
from __future__ import annotations

from collections import Counter

from prep.chat_masking import normalise_messages
from prep.masking import Drop
from prep.records import kind

MODES = ("auto", "text", "supervised", "chat")


def _string(record: dict, key: str, reason: str):
    value = record.get(key)
    if value is None:
        return Drop(reason, f"no {key!r}")
    if not isinstance(value, str):
        return Drop("bad-field", f"{key!r} is {type(value).__name__}, not text")
    if not value.strip():
        return Drop(reason, f"{key!r} is blank")
    return value


def _alpaca_input(record: dict):
    parts = [record.get("instruction"), record.get("input")]
    odd = [p for p in parts if p is not None and not isinstance(p, str)]
    if odd:
        return odd[0]  # not text: rejected as a bad field below
    text = "\n".join(p for p in parts if p and p.strip())
    return text + "\n" if text else ""


def view(record: dict, counters: Counter):
    """The record as it is: a job of its own kind, or a ``Drop``."""
    shape = kind(record)
    if shape == "messages" or isinstance(record.get("conversations"), list):  # openai or sharegpt
        turns = record["messages"] if shape == "messages" else record["conversations"]
        messages = normalise_messages(turns, counters)
        return messages if isinstance(messages, Drop) else ("chat", messages)
    if shape == "input-output" and "instruction" in record:
        record = {"input": _alpaca_input(record), "output": record.get("output")}
    if shape == "input-output" or "generation" in record:
        keys = ("input", "output") if shape == "input-output" else ("prompt", "generation")
        inp = _string(record, keys[0], "empty-input")
        out = _string(record, keys[1], "empty-output")
        bad = next((v for v in (inp, out) if isinstance(v, Drop)), None)
        return bad or ("supervised", inp, out)
    if "text" not in record:
        return Drop("unknown-shape", f"keys {sorted(record)[:12]}: none of text, input/output, "
                    "prompt/generation, messages, conversations")
    text = _string(record, "text", "empty-text")
    return text if isinstance(text, Drop) else ("text", text)


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


def job(record: dict, mode: str, counters: Counter):
    """What to tokenize for ``record`` under ``mode``, or a ``Drop``."""
    seen = view(record, counters)
    return seen if isinstance(seen, Drop) else CONVERT[mode](seen)
