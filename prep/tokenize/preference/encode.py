"""One preference record to token ids: the prompt once, then each response (chosen and rejected,
or the KTO completion) as the tokens that follow it.

The prompt is laid out as SFT lays out its input (prep.tokenize.formats): with the chat template,
the prompt turns rendered with the generation prompt; without one (alpaca, raw, --template-file),
the prompt text through that format, after the tokenizer's BOS. A response is what the template
renders after the prompt when the response is added as the assistant turn (its end-of-turn marker
included), or the response text itself. The prompt and each response are tokenized apart, as a
model sees them at inference (a prompt, then what it generates), so no token straddles the two.

Each response ends with exactly one EOS (the single-EOS rule of SFT): whitespace a template writes
after a final EOS is not kept, an EOS is added where the template ends turns with something else,
and a record whose own text holds the tokenizer's special tokens is dropped (unless
--allow-special-tokens). Too long (the prompt plus the longer response over --max-length): the
oldest exchanges of a multi-turn prompt are removed (its system turn kept) until it fits; a single
exchange that does not fit is dropped as too-long. Neither side is cut inside: a cut response loses
its EOS, and a cut prompt loses the template's opening (TRL would cut the end of the sequence).
"""
from __future__ import annotations

from collections import Counter

from prep.core.shapes import Pair, Unusable, pair_of
from prep.tokenize.masking import Drop, Specials


def _plain_prompt(turns: list[dict]) -> str:
    """The prompt turns as one text for the non-chat formats: a lone user turn as it is, else
    ``role: content`` lines followed by ``assistant: `` (as SFT's --mode supervised writes chats)."""
    if len(turns) == 1 and turns[0]["role"] == "user":
        return turns[0]["content"]
    return "".join(f"{t['role']}: {t['content']}\n" for t in turns) + "assistant: "


def _texts(fmt, tokenizer, turns: list[dict], response: str) -> tuple[str, str]:
    """(prompt text, response text) as the format lays them out; raises Unusable."""
    if fmt.name != "chat":
        prompt = fmt.supervised(_plain_prompt(turns), response, (_plain_prompt(turns), ""))[1]
        return prompt, response
    messages = fmt.system_messages(turns) + turns
    before = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
    if not full.startswith(before):
        raise Unusable("chat-template-not-prefix", "the template renders the prompt differently once the "
                       "response follows it")
    tail = full[len(before):]
    eos = tokenizer.eos_token
    if eos and tail.rstrip().endswith(eos):   # what follows the final EOS is never generated
        tail = tail.rstrip()
    return before, tail


def _one_eos(ids: list[int], sp: Specials) -> list[int]:
    return ids if ids and ids[-1] == sp.eos_id else ids + [sp.eos_id]


def _guard(pair: Pair, guard) -> Drop | None:
    pattern = guard[0] if guard else None
    if pattern is None:
        return None
    for name, text in [("prompt", t["content"]) for t in pair.prompt] + list(pair.responses.items()):
        found = pattern.search(text)
        if found is not None:
            return Drop("special-token-in-text", f"{found.group(0)!r} in the {name} at character {found.start()} "
                        "(pass --allow-special-tokens to keep it as the token)")
    return None


def _encode_once(turns, pair: Pair, tokenizer, fmt, sp: Specials) -> tuple[list[int], dict]:
    prompt_ids, responses = None, {}
    for name, response in pair.responses.items():
        prompt, tail = _texts(fmt, tokenizer, turns, response)
        if prompt_ids is None:
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            if fmt.name != "chat":
                prompt_ids = list(sp.prefix) + prompt_ids
        responses[name] = _one_eos(tokenizer(tail, add_special_tokens=False)["input_ids"], sp)
    n = len(sp.prefix)
    if n and prompt_ids[:2 * n] == list(sp.prefix) * 2:   # a template that writes BOS and the data's own
        prompt_ids = prompt_ids[n:]
    return prompt_ids, responses


def _shorter(turns: list[dict]) -> list[dict] | None:
    """The prompt less its oldest exchange (a system turn kept), or None where one exchange is left."""
    answers = [i for i, t in enumerate(turns) if t["role"] == "assistant"]
    if not answers:
        return None
    return [t for t in turns[:answers[0]] if t["role"] == "system"] + turns[answers[0] + 1:]


def encode_pair(record: dict, tokenizer, fmt, sp: Specials, max_length: int, guard, counters: Counter):
    """``{"prompt": ids, NAME: ids..., "label"?, "id"?}`` for one record, or a ``Drop``."""
    try:
        pair = pair_of(record)
    except Unusable as exc:
        return Drop(exc.reason, exc.detail)
    bad = _guard(pair, guard)
    if bad is not None:
        return bad
    if len(set(pair.responses.values())) < len(pair.responses):
        return Drop("identical-responses", "chosen and rejected are the same text: nothing to prefer")
    turns, cut = pair.prompt, False
    while True:
        try:
            prompt_ids, responses = _encode_once(turns, pair, tokenizer, fmt, sp)
        except Unusable as exc:
            return Drop(exc.reason, exc.detail)
        longest = len(prompt_ids) + max(map(len, responses.values()))
        if longest <= max_length:
            break
        turns = _shorter(turns)
        if turns is None:
            return Drop("too-long", f"prompt {len(prompt_ids)} + longest response "
                        f"{max(map(len, responses.values()))} tokens > max_length {max_length}")
        cut = True
    counters["truncated_prompt"] += int(cut)
    row = {"prompt": prompt_ids, **responses}
    if pair.label is not None:
        row["label"] = pair.label
    return row
