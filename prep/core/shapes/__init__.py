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

The package: ``fields`` (one text field, the prompt rule, the speaker map, turns, --map),
``layouts`` (the published layouts and their canonical fields), ``preference`` (pairs and KTO)
and ``reading`` (how any record reads for the stages). Import from here.
"""
from __future__ import annotations

from prep.core.shapes.fields import (
    ALPACA_NO_INPUT,
    ALPACA_WITH_INPUT,
    NO_INPUT,
    PROMPT_JOIN,
    ROLES,
    Unusable,
    alpaca_prompt,
    alpaca_template,
    has_input,
    parse_map,
    renamed,
    text,
    turns,
    with_system,
)
from prep.core.shapes.layouts import (
    LAYOUTS,
    ORDER,
    TWO_PART,
    canonical,
    folded,
    keyed,
    layout_of,
    needed_keys,
    prompt_pair,
    prompt_parts,
    used_keys,
    view,
)
from prep.core.shapes.preference import (
    HH_MARKER,
    PAIR_KEYS,
    PAIR_LAYOUTS,
    Pair,
    hh_join,
    hh_split,
    layout_is_hh,
    lenient_pair,
    pair_layout,
    pair_of,
    prompt_text,
)
from prep.core.shapes.reading import group_text, kind, main_text, response_text, type_problem

__all__ = [
    "ALPACA_NO_INPUT", "ALPACA_WITH_INPUT", "HH_MARKER", "LAYOUTS", "NO_INPUT", "ORDER", "PAIR_KEYS",
    "PAIR_LAYOUTS", "PROMPT_JOIN", "ROLES", "TWO_PART", "Pair", "Unusable", "alpaca_prompt",
    "alpaca_template", "canonical", "folded", "group_text", "has_input", "hh_join", "hh_split", "keyed",
    "kind", "layout_is_hh", "layout_of", "lenient_pair", "main_text", "needed_keys", "pair_layout",
    "pair_of", "parse_map", "prompt_pair", "prompt_parts", "prompt_text", "renamed", "response_text",
    "text", "turns", "type_problem", "used_keys", "view", "with_system",
]
