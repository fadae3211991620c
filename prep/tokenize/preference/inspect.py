"""`prep inspect` on a preference file: the rows decoded (prompt, chosen, rejected or the KTO
completion and label) and every row checked.

Checks: the prompt and each response hold tokens; each response ends with EOS and holds no other
EOS (the single-EOS rule); prompt plus response within the max length; no double BOS; chosen and
rejected differ; a KTO label is set. With the chat template (as stored by `prep tokenize`), the
prompt ends with the template's generation prompt (what a model is given before it answers) and no
response repeats it: a prompt rendered without it, or twice, fails here.
"""
from __future__ import annotations

from collections import Counter

from prep.tokenize.preference.rows import columns_for

PROBE = "probe"
CHECKS = ("empty", "no-eos", "eos-inside", "too-long", "double-bos", "identical", "label", "template")
# Rows listed in full; beyond that only the counts per check are printed.
MAX_LISTED = 50


def generation_prompt(tokenizer) -> str | None:
    """The text the chat template adds for add_generation_prompt=True (e.g. "<|im_start|>assistant\\n")."""
    turn = [{"role": "user", "content": PROBE}]
    try:
        bare = tokenizer.apply_chat_template(turn, tokenize=False)
        asked = tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    except (ValueError, TypeError, KeyError, IndexError):   # no template, or one that refuses the probe
        return None
    return asked[len(bare):] if asked.startswith(bare) and len(asked) > len(bare) else None


def check_row(row: dict, names: tuple[str, ...], ctx: dict) -> list[tuple[str, str]]:
    """[(check, problem)] for one row; ``ctx``: eos_id, bos_id, max_length, marker, decode."""
    problems, eos = [], ctx["eos_id"]
    prompt, responses = row["prompt_input_ids"], {n.removesuffix("_input_ids"): row[n] for n in names[1:]}
    if not prompt or not all(responses.values()):
        return [("empty", "the prompt or a response holds no tokens")]
    for name, ids in responses.items():
        if ids[-1] != eos:
            problems.append(("no-eos", f"{name} ends with {ids[-1]}, not EOS {eos}"))
        if eos in ids[:-1]:
            problems.append(("eos-inside", f"{name} holds EOS at position {ids.index(eos)} before its end"))
        if ctx["max_length"] is not None and len(prompt) + len(ids) > ctx["max_length"]:
            problems.append(("too-long", f"prompt {len(prompt)} + {name} {len(ids)} > {ctx['max_length']}"))
    if ctx["bos_id"] is not None and prompt[:2] == [ctx["bos_id"]] * 2:
        problems.append(("double-bos", "the prompt starts with BOS twice"))
    if "chosen" in responses and responses["chosen"] == responses["rejected"]:
        problems.append(("identical", "chosen and rejected are the same tokens"))
    if "completion" in responses and not isinstance(row.get("label"), bool):
        problems.append(("label", f"label is {row.get('label')!r}, not true or false"))
    marker = ctx["marker"]
    if marker is not None:
        if not ctx["decode"](prompt).endswith(marker):
            problems.append(("template", f"the prompt does not end with the generation prompt {marker!r}"))
        for name, ids in responses.items():
            if ctx["decode"](ids).startswith(marker):
                problems.append(("template", f"{name} starts with the generation prompt again"))
    return problems


def show(dataset, n: int, decode, names: tuple[str, ...]) -> None:
    for index in range(min(n, len(dataset))):
        row = dataset[index]
        label = f", label {row['label']}" if "label" in row else ""
        print(f"--- row {index} (id {row.get('id')}{label}) ---")
        for name in names:
            print(f"[{name.removesuffix('_input_ids')}: {len(row[name])} tokens]")
            print(decode(row[name]))
    if n:
        print()


def run_preference(args, tokenizer, dataset, stored: dict, bos_id: int | None) -> int:
    """Shows and checks a preference file; 1 when a row fails a check."""
    names = columns_for("kto" if "completion_input_ids" in dataset.column_names else "pairs")
    max_length = args.max_length if args.max_length is not None else stored.get("max_length")
    ctx = {"eos_id": tokenizer.eos_token_id, "bos_id": bos_id, "max_length": max_length,
           "marker": generation_prompt(tokenizer) if stored.get("prompt_format") == "chat" else None,
           "decode": lambda ids: tokenizer.decode(ids, skip_special_tokens=False)}
    print(f"preference rows ({stored.get('kind', 'not recorded')}): prompt format "
          f"{stored.get('prompt_format', 'not recorded')}, max length {max_length}")
    show(dataset, args.n, ctx["decode"], names)
    failures = []
    for index, row in enumerate(dataset):
        failures.extend((index, name, problem) for name, problem in check_row(row, names, ctx))
    by_check = Counter(name for _, name, _ in failures)
    print(f"rows {len(dataset)}, prompt tokens {sum(map(len, dataset['prompt_input_ids']))}")
    for name in CHECKS:
        print(f"  {name:<12} {'ok' if not by_check[name] else f'{by_check[name]} rows FAIL'}")
    if not failures:
        print("all checks passed")
        return 0
    for index, name, problem in failures[:MAX_LISTED]:
        print(f"  row {index}: {name}: {problem}")
    return 1
