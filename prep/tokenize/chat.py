"""Chat records: the tokenizer's chat template, with the loss on the assistant turns only.

Two ways to find the assistant tokens, in this order:

1. The template marks them with ``{% generation %}``: transformers returns the mask itself
   (``apply_chat_template(..., return_assistant_tokens_mask=True)``).
2. Otherwise, by rendering prefixes: for the assistant message i, the text of messages[:i]
   with the generation prompt ends where the answer starts, and the text of messages[:i+1]
   ends where it stops (its end-of-turn marker included, so the model learns to stop).
   The whole conversation is tokenized once with offsets, and a token is trained when it
   starts inside one of these character spans. This works on character positions rather
   than token counts, so a merge across a boundary cannot shift the mask by one. A template
   whose earlier text changes with later messages (no prefix) is dropped, with that reason.

Either way the example ends with exactly one EOS whose label is the EOS id: whitespace the
template leaves after a final EOS is removed, and an EOS is appended where the template
ends turns with something else. Too long: the oldest user/assistant exchanges (after the
system message) are removed until it fits; if the last exchange alone does not fit, it is
dropped.
"""
from __future__ import annotations

import re
from collections import Counter

from prep.tokenize.masking import IGNORE, Drop, Specials

GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


def template_text(tokenizer) -> str | None:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default")
    return template


def has_generation_markers(tokenizer) -> bool:
    return bool(GENERATION_TAG.search(template_text(tokenizer) or ""))


def trim_to_last_answer(messages: list[dict], counters: Counter):
    """Messages (roles already mapped by prep.core.shapes) ending with the last assistant turn, or a ``Drop``."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return Drop("no-assistant-turn", f"{len(messages)} messages, none from the assistant")
    if not messages[last]["content"].strip():
        return Drop("empty-output", "the last assistant turn is empty")
    if last + 1 < len(messages):
        counters["chat_trailing_turns_removed"] += len(messages) - last - 1  # nothing to learn after it
    return messages[:last + 1]


def _by_markers(tokenizer, messages):
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    ids = list(out["input_ids"])
    return ids, [t if m else IGNORE for t, m in zip(ids, out["assistant_masks"])]


def _assistant_spans(tokenizer, messages):
    """Character spans of the assistant turns in the rendered conversation, or a ``Drop``."""
    def render(msgs, prompt=False):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=prompt)

    full = render(messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        upto = render(messages[:i + 1])
        if i:
            before = render(messages[:i], prompt=True)
        else:  # templates cannot always render no message at all: find the first answer
            found = upto.find(message["content"])
            before = upto[:found] if found >= 0 else upto
        if not (upto.startswith(before) and full.startswith(upto)):
            return full, Drop("chat-template-not-prefix",
                              f"the template renders message {i} differently once later messages follow")
        # The turn ends at its end-of-turn token: the whitespace a template writes after it (before
        # the next turn) is never generated, so it is not trained (an EOS must end what is trained).
        end = len(upto)
        if tokenizer.eos_token and upto.rstrip().endswith(tokenizer.eos_token):
            end = len(upto.rstrip())
        spans.append((len(before), end))
    return full, spans


def _by_prefixes(tokenizer, messages):
    full, spans = _assistant_spans(tokenizer, messages)
    if isinstance(spans, Drop):
        return spans
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [t if any(a <= start < b for a, b in spans) else IGNORE
              for t, (start, _) in zip(ids, enc["offset_mapping"])]
    return ids, labels


def _end_with_eos(ids, labels, tokenizer, sp: Specials, counters: Counter):
    n = len(sp.prefix)
    if n and ids[:2 * n] == list(sp.prefix) * 2:  # the data carried its own BOS text
        ids, labels = ids[n:], labels[n:]
        counters["bos_in_text_removed"] += 1
    last = len(ids) - 1 - ids[::-1].index(sp.eos_id) if sp.eos_id in ids else None
    if last is not None and last + 1 < len(ids) and not tokenizer.decode(ids[last + 1:]).strip():
        ids, labels = ids[:last + 1], labels[:last + 1]
    if ids[-1] != sp.eos_id:
        ids, labels = ids + [sp.eos_id], labels + [sp.eos_id]
        counters["chat_eos_added"] += 1
    labels[-1] = sp.eos_id
    return ids, labels


def _oldest_exchange_end(messages) -> int | None:
    """Index of the first assistant turn when a later one exists (what can be cut), else None."""
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    return answers[0] if len(answers) > 1 else None


def build_chat(messages: list[dict], tokenizer, sp: Specials, config, counters: Counter):
    """(input_ids, labels) for normalised messages, or a ``Drop``."""
    # jinja2: imported here to keep it off the CLI's start-up path
    from jinja2 import TemplateError

    encode = _by_markers if has_generation_markers(tokenizer) else _by_prefixes
    cut = False
    while True:
        try:
            built = encode(tokenizer, messages)
        except (TemplateError, ValueError, TypeError, KeyError, IndexError) as exc:
            # Templates reject what they do not support (roles that do not alternate...).
            return Drop("chat-template-error", f"{type(exc).__name__}: {exc}")
        if isinstance(built, Drop):
            return built
        ids, labels = _end_with_eos(*built, tokenizer, sp, counters)
        if len(ids) <= config.max_length:
            break
        end = _oldest_exchange_end(messages)
        if end is None:
            return Drop("conversation-too-long", f"{len(ids)} tokens with only the last exchange left, "
                        f"max_length {config.max_length}")
        system = [m for m in messages[:end] if m["role"] == "system"]
        messages = system + messages[end + 1:]
        cut = True
    counters["truncated_chat"] += int(cut)
    if config.train_on_source:
        return ids, list(ids)
    if all(label == IGNORE for label in labels[:-1]):
        return Drop("no-assistant-tokens", "the template left no assistant token to train on")
    return ids, labels
