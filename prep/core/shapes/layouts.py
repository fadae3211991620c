"""The published layouts (``LAYOUTS``) and how each maps to its canonical fields.

Auto-detection tries the layouts in ``ORDER``; a record whose keys are capitalised is read with
lower-case keys where no two collide.
"""
from __future__ import annotations

from typing import Callable

from prep.core.shapes.fields import Unusable, alpaca_prompt, has_input, text, turns, with_system


def prompt_pair(prompt_key: str, extra_key: str | None, response_key: str) -> Callable[[dict, str], dict]:
    """A mapper for a prompt (plus an optional extra joined by the prompt rule) and a response."""
    def mapper(record: dict, _text_key: str) -> dict:
        prompt = text(record, prompt_key)
        if extra_key is not None:
            prompt = alpaca_prompt(prompt, text(record, extra_key, required=False))
        return {"input": prompt, "output": text(record, response_key)}
    return mapper


def orca(record: dict, _text_key: str) -> dict:
    """Open-Orca's question and response as turns, behind its system prompt where it has one
    (most records do: {input, output} would have no place for it)."""
    return {"messages": with_system(record, [{"role": "user", "content": text(record, "question")},
                                             {"role": "assistant", "content": text(record, "response")}])}


# Labels that judge a completion without being a KTO label (which makes the record a preference
# record): a score, or a verdict word. Trained as a completion, an answer judged bad would be
# learnt as a good one, so such a record is refused; any other label (a topic, a category) is
# kept with the record and does not change how it is read.
VERDICT_WORDS = frozenset({"yes", "no", "good", "bad", "desirable", "undesirable", "accept", "accepted", "reject",
                           "rejected", "chosen", "thumbs_up", "thumbs_down", "up", "down", "pass", "fail"})


def judges(label) -> bool:
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        return True
    return isinstance(label, str) and label.strip().lower() in VERDICT_WORDS


def not_kto(mapper: Callable[[dict, str], dict]) -> Callable[[dict, str], dict]:
    """``mapper`` for a prompt/completion record, refusing one whose ``label`` judges the completion
    (``judges``) without being a KTO label (true or false, 1 or 0)."""
    def mapper_checked(record: dict, text_key: str) -> dict:
        if judges(record.get("label")):
            raise Unusable("bad-label", f"'label' holds {record['label']!r}: a prompt/completion record with a "
                           "verdict or score as its label reads as KTO data, whose label must be true or false "
                           "(or 1/0); write it so, or rename the key if it is not a verdict", "label")
        return mapper(record, text_key)
    return mapper_checked


# name -> (keys the layout needs, keys it may also use, mapper to canonical fields); ``text``
# stands for --text-key. Auto tries them in this order: the most specific keys first (alpaca
# also has "input", Dolly's context is optional in GPTeacher-style instruction/response sets).
LAYOUTS = {
    "messages": (("messages",), ("system", "system_prompt"), lambda r, _k: {"messages": with_system(r, turns(r["messages"]))}),
    "sharegpt": (("conversations",), ("system", "system_prompt"),
                 lambda r, _k: {"messages": with_system(r, turns(r["conversations"], "from", "value"))}),
    "alpaca": (("instruction", "output"), ("input",), prompt_pair("instruction", "input", "output")),
    "dolly": (("instruction", "context", "response"), (), prompt_pair("instruction", "context", "response")),
    "instruction-response": (("instruction", "response"), ("input",),
                             prompt_pair("instruction", "input", "response")),
    "prompt-generation": (("prompt", "generation"), (), prompt_pair("prompt", None, "generation")),
    "prompt-completion": (("prompt", "completion"), (), not_kto(prompt_pair("prompt", None, "completion"))),
    "prompt-response": (("prompt", "response"), (), prompt_pair("prompt", None, "response")),
    "question-answer": (("question", "answer"), (), prompt_pair("question", None, "answer")),
    "orca": (("question", "response"), ("system_prompt", "system"), orca),
    "query-response": (("query", "response"), (), prompt_pair("query", None, "response")),
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
