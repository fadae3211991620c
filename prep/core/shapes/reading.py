"""How a record of any layout, preference layouts included, reads for the stages: its kind, its
whole text, the side a model is trained to produce, what groups it in a split, and why its
values cannot be text at all."""
from __future__ import annotations

from prep.core.shapes.fields import Unusable
from prep.core.shapes.layouts import keyed, layout_of, needed_keys, used_keys, view
from prep.core.shapes.preference import lenient_pair, pair_layout, pair_of, prompt_text


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
    if layout in ("messages", "sharegpt", "orca"):
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
    pair = lenient_pair(record)
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
    pair = lenient_pair(record)
    if pair is not None:
        return next(iter(pair.responses.values()))
    seen = _lenient(record)
    if seen[0] == "chat":
        return "\n".join(m["content"] for m in seen[1] if m["role"] == "assistant")
    return seen[2] if seen[0] == "supervised" else seen[1]


def group_text(record: dict) -> str:
    """What keeps records together in a split: a preference record's prompt, else all its words."""
    pair = lenient_pair(record)
    return main_text(record) if pair is None else prompt_text(pair)
