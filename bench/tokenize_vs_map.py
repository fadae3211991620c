"""Tokenize speed per core: `prep tokenize` against HF datasets' batched map and TRL's SFT preparation.

    .venv/bin/python bench/tokenize_vs_map.py [--records N] [--repeat R] [--vocab V] [--no-trl]

Input: the real instruction records of tests/data/layouts (Alpaca, Dolly, GPTeacher, CodeAlpaca,
prompt/completion, question/answer layouts: every record prep.core.shapes reads as a prompt and
a response), as (instruction, input, output), resampled with a fixed seed to N records (20,000).
Tokenizer: a byte-level BPE (BOS added, </s> as EOS) trained here on all the text under
tests/data (up to --vocab tokens; a small corpus gives fewer, the count is reported).

The same work on every side: the Stanford Alpaca prompt, BOS + prompt, response + EOS, labels
-100 over BOS and prompt, read from the same JSONL, written as Arrow:
- `prep tokenize --prompt-format alpaca --workers 1|2` (in process, through the CLI);
- `datasets` load_dataset("json") + Dataset.map(batched=True, num_proc 1|2), a fresh cache each
  run (the map writes its Arrow cache file, as the stage writes its output);
- TRL's SFTTrainer._prepare_dataset on a prompt/completion dataset (dataset_num_proc 1), on a
  trainer built around a tiny Llama (not timed); one run, after the others.
Token counts must be equal (TRL tokenizes prompt+completion together, so they may differ by a
few merges across the boundary: that count is reported). Ratios are against the map at the
same num_proc. Writes bench/results/tokenize_vs_map.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

from _common import RESULTS, command, describe, device_info, table, take_turns, write_results

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ROOT / "tests" / "data" / "layouts"
MAX_LENGTH = 4096  # long enough that no side truncates: the outputs must match exactly


def real_pairs() -> list[dict]:
    """(instruction, input, output) of every real layout record read as a prompt and a response."""
    from prep.core.records import read_records
    from prep.core.shapes import Unusable, prompt_parts, view

    pairs = []
    for path in sorted(LAYOUTS.iterdir()):
        if path.suffix not in (".json", ".jsonl") or path.name.startswith("hostile"):
            continue
        for item in read_records(str(path)):
            if item.error is not None or not isinstance(item.record, dict):
                continue
            try:
                seen = view(item.record)
            except Unusable:
                continue
            if seen[0] == "supervised" and seen[1].strip() and seen[2].strip() and "</s>" not in seen[1] + seen[2]:
                instruction, extra = prompt_parts(item.record, seen[1])
                pairs.append({"instruction": instruction, "input": extra, "output": seen[2]})
    return pairs


def corpus() -> list[str]:
    texts = []
    for path in sorted((ROOT / "tests" / "data").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".html", ".txt", ".md", ".csv", ".sql"):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return texts


def make_tokenizer(directory: Path, vocab: int) -> int:
    """A byte-level BPE like tests/tiny.py's, at ``vocab`` tokens; returns its real size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(directory)
    return tok.get_vocab_size()


def run_stage(src: Path, tok: str, out: Path, workers: int) -> dict:
    from prep.core.stage import sidecar
    from train.cli import main as tunesmith

    code = tunesmith(["prep", "tokenize", "--input", str(src), "--output", str(out), "--tokenizer-path", tok,
                      "--prompt-format", "alpaca", "--max-length", str(MAX_LENGTH), "--workers", str(workers),
                      "--quiet"])
    if code:
        raise SystemExit(f"prep tokenize failed with exit status {code}")
    return json.loads(sidecar(out, ".stats.json").read_text())


def run_map(src: Path, tok: str, cache: Path, num_proc: int):
    """load_dataset + batched map doing the stage's work; returns the mapped Dataset."""
    import datasets
    from transformers import AutoTokenizer

    from prep.core.shapes import alpaca_template

    tokenizer = AutoTokenizer.from_pretrained(tok)
    bos, eos = [tokenizer.bos_token_id], tokenizer.eos_token_id

    def encode(batch):
        prompts = [alpaca_template(i, x) for i, x in zip(batch["instruction"], batch["input"])]
        p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        r_ids = tokenizer(batch["output"], add_special_tokens=False)["input_ids"]
        ids = [bos + p + r + [eos] for p, r in zip(p_ids, r_ids)]
        labels = [[-100] * (1 + len(p)) + r + [eos] for p, r in zip(p_ids, r_ids)]
        return {"input_ids": ids, "labels": labels, "length": [len(i) for i in ids]}

    raw = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(cache))
    return raw.map(encode, batched=True, batch_size=1000, num_proc=None if num_proc == 1 else num_proc,
                   remove_columns=raw.column_names)


def trl_preparer(tok: str, directory: Path):
    """A function of a prompt/completion Dataset running TRL's own SFT preparation."""
    sys.path.insert(0, str(ROOT / "tests"))
    import datasets
    from tiny import make_llama
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tok)
    model = make_llama(tokenizer=tokenizer)
    config = SFTConfig(output_dir=str(directory), max_length=MAX_LENGTH, dataset_num_proc=1, report_to=[],
                       use_cpu=True)
    seed = datasets.Dataset.from_list([{"prompt": "a", "completion": "b"}])
    trainer = SFTTrainer(model=model, args=config, train_dataset=seed, processing_class=tokenizer)
    return lambda data: trainer._prepare_dataset(data, tokenizer, config, False, None, "train")


def trl_input(pairs: list[dict]):
    import datasets

    from prep.core.shapes import alpaca_template

    return datasets.Dataset.from_dict({"prompt": [alpaca_template(p["instruction"], p["input"]) for p in pairs],
                                       "completion": [p["output"] for p in pairs]})


def markdown(f: dict, env: dict, run: str) -> str:
    rows = [("records (real, resampled)", f"{f['records']} from {f['distinct']} distinct"),
            ("tokenizer", f"byte-level BPE, {f['vocab']} tokens"), ("tokens written", f["tokens"])]
    for np_ in (1, 2):
        rows += [(f"prep tokenize --workers {np_}, tokens/s", f[f"stage_w{np_}_tokens_per_s"]),
                 (f"datasets map num_proc {np_}, tokens/s", f[f"map_np{np_}_tokens_per_s"]),
                 (f"ratio stage / map at {np_}", f"x{f[f'ratio_np{np_}']}")]
    if "trl_tokens_per_s" in f:
        rows += [("TRL SFT preparation (num_proc 1), tokens/s", f["trl_tokens_per_s"]),
                 ("ratio stage --workers 1 / TRL", f"x{f['ratio_trl']}"),
                 ("TRL tokens differing from the stage's", f["trl_token_difference"])]
    rows += [("same token ids, stage and map", f["same_ids"]),
             ("load average (1 min) at the end", f["load_average_1min"])]
    return (f"# tokenize against datasets' map and TRL\n\n{describe(run, env)}\n\n"
            "Every side reads the same JSONL and writes Arrow; the sides take turns, best of "
            f"{f['repeat']} runs each.\n\n" + "\n".join(table(("measure", "value"), rows)) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000, help="records after resampling the real ones")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each side; the fastest counts")
    parser.add_argument("--vocab", type=int, default=32000, help="BPE vocabulary size to train at most")
    parser.add_argument("--no-trl", action="store_true", help="leave TRL's preparation out")
    args = parser.parse_args()
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    pairs = real_pairs()
    rng = random.Random(0)
    sample = [dict(rng.choice(pairs), id=i) for i in range(args.records)]
    with tempfile.TemporaryDirectory(prefix="tokenize-vs-map-") as tmp:
        tmp = Path(tmp)
        src = tmp / "train.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in sample), encoding="utf-8")
        tok = str(tmp / "tokenizer")
        vocab = make_tokenizer(Path(tok), args.vocab)
        runs = iter(range(10 ** 6))
        sides = {f"stage_w{n}": (lambda n=n: run_stage(src, tok, tmp / f"w{n}.arrow", n)) for n in (1, 2)}
        sides.update({f"map_np{n}": (lambda n=n: run_map(src, tok, tmp / f"cache{next(runs)}", n)) for n in (1, 2)})
        walls, _, results = take_turns(sides, args.repeat)
        if not args.no_trl:   # timed once: it is several times slower than the others
            prepare, trl_data = trl_preparer(tok, tmp / "trl"), trl_input(sample)
            trl_walls, _, trl_results = take_turns({"trl": lambda: prepare(trl_data)}, 1)
            walls.update(trl_walls)
            results.update(trl_results)
        from prep.tokenize.arrow_io import read_arrow
        staged = read_arrow(tmp / "w2.arrow")
        same = staged["input_ids"] == results["map_np2"]["input_ids"] and \
            read_arrow(tmp / "w1.arrow")["labels"] == results["map_np1"]["labels"]
        trl_tokens = sum(map(len, results["trl"]["input_ids"])) if "trl" in results else None
    seconds = {k: min(v) for k, v in walls.items()}
    tokens = results["stage_w1"]["tokens_total"]
    f = {"records": args.records, "distinct": len(pairs), "vocab": vocab, "tokens": tokens, "repeat": args.repeat,
         "seconds": {k: round(v, 3) for k, v in seconds.items()}, "same_ids": same,
         **{f"{k}_tokens_per_s": round(tokens / v) for k, v in seconds.items()},
         **{f"ratio_np{n}": round(seconds[f"map_np{n}"] / seconds[f"stage_w{n}"], 2) for n in (1, 2)},
         "load_average_1min": round(os.getloadavg()[0], 2)}
    if trl_tokens is not None:
        f.update(ratio_trl=round(seconds["trl"] / seconds["stage_w1"], 2), trl_token_difference=trl_tokens - tokens)
    run, env = command("tokenize_vs_map"), device_info("transformers", "tokenizers", "datasets", "trl", "pyarrow")
    write_results("tokenize_vs_map", {"command": run, "environment": env, "figures": f}, markdown(f, env, run))
    for key in sorted(k for k in f if k.endswith("tokens_per_s") or k.startswith("ratio")):
        print(f"{key:28} {f[key]}")
    print(f"{tokens} tokens, vocab {vocab}; same ids: {same}; results in {RESULTS}/tokenize_vs_map.{{json,md}}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
