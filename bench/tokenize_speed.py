"""Tokenization speed: `prep tokenize` (batched, --num-proc 2) against a per-record Python loop.

    .venv/bin/python bench/tokenize_speed.py [--quick] [--records N] [--repeat R]

Input: generated instruction records {input, output} (20,000, or 2,000 with --quick):
questions, requests and notes with a few hundred words of answer each. Tokenizer: SmolLM2's
when data/models/smollm2-135m exists, otherwise a byte-level BPE of 8,000 tokens trained
here on the same text (Llama-style: BOS added, </s> as EOS). Both sides read the same JSONL
and write an Arrow file. The baseline does what per-record tokenizer scripts do: for each
record `tokenizer(prompt)` and `tokenizer(response, add_special_tokens=False)` + EOS, labels
-100 over the prompt, appended to Python lists, one table written at the end. The stage
runs in process through the CLI (reading, batching, workers, stats, rejects, atomic write).
Both outputs must hold the same token ids (checked), so the rates compare like with like.
Writes bench/results/tokenize_speed.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
from pathlib import Path

from _common import RESULTS, command, describe, device_info, table, take_turns, write_results

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = ROOT / "data" / "models" / "smollm2-135m"
VOCAB = 8000
MAX_LENGTH = 2048  # long enough that neither side truncates: the outputs must match exactly

TOPICS = ["soil drainage", "bread proofing", "bicycle gears", "tide tables", "compost heaps", "river ferries",
          "wool dyeing", "solar panels", "chess openings", "beekeeping", "glass kilns", "rail signals",
          "spreadsheet formulas", "pond ecology", "roof gutters", "map projections", "violin strings",
          "cheese caves", "kite design", "lighthouse lenses", "wind pumps", "library catalogues"]
VERBS = ["changes", "limits", "improves", "depends on", "interacts with", "protects", "slows", "reshapes"]
QUALITIES = ["careful", "cheap", "slow", "reliable", "seasonal", "fragile", "local", "efficient", "noisy"]
NOUNS = ["temperature", "the budget", "maintenance", "daily routines", "safety margins", "the weather",
         "old habits", "spare parts", "record keeping", "the neighbours", "water pressure", "storage space"]
ASKS = ["Explain how {t} {v} {n}.", "Write a short guide to {t} for a beginner.",
        "What are three common mistakes with {t}, and how can they be avoided?",
        "Summarise these notes on {t}:\n{notes}", "Compare {t} with {t2} in about {k} sentences.",
        "A friend asks why {n} matters for {t}. Answer in plain words."]


def sentence(rng: random.Random) -> str:
    t, n, v, q = rng.choice(TOPICS), rng.choice(NOUNS), rng.choice(VERBS), rng.choice(QUALITIES)
    forms = [f"In {t}, {n} {v} almost everything else.", f"A {q} approach to {t} saves {rng.randint(2, 90)}% "
             f"of the effort.", f"Most people notice that {n} {v} {rng.choice(NOUNS)} after {rng.randint(1, 12)} "
             "weeks.", f"Keep {n} in mind: it is {q} but it {v} the result.",
             f"Step {rng.randint(1, 9)}: check {n}, then adjust {t} ({q} work, not hard work)."]
    return rng.choice(forms)


def record(rng: random.Random, index: int) -> dict:
    notes = "\n".join(f"- {sentence(rng)}" for _ in range(rng.randint(2, 6)))
    ask = rng.choice(ASKS).format(t=rng.choice(TOPICS), t2=rng.choice(TOPICS), v=rng.choice(VERBS),
                                  n=rng.choice(NOUNS), k=rng.randint(3, 8), notes=notes)
    paragraphs = ["".join(" " + sentence(rng) for _ in range(rng.randint(3, 9))).strip()
                  for _ in range(rng.randint(1, 4))]
    return {"id": index, "input": f"### Instruction:\n{ask}\n\n### Response:\n", "output": "\n\n".join(paragraphs)}


def make_tokenizer(records: list[dict], directory: Path) -> tuple[str, str]:
    """(path, description): SmolLM2's tokenizer if present, else a BPE trained on the records."""
    if (SMOLLM2 / "tokenizer.json").exists():
        return str(SMOLLM2), "SmolLM2-135M (49,152 tokens)"
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((r["input"] + r["output"] for r in records), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(directory)
    return str(directory), f"byte-level BPE, {VOCAB} tokens, trained on the input"


def baseline(src: Path, tokenizer_path: str, out: Path) -> list[list[int]]:
    """One record at a time: two tokenizer calls, Python lists, one Arrow table at the end."""
    import pyarrow as pa
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    all_ids, all_labels = [], []
    with open(src, encoding="utf-8") as fh:
        for line in fh:
            example = json.loads(line)
            prompt = tokenizer(example["input"])["input_ids"]
            response = tokenizer(example["output"], add_special_tokens=False)["input_ids"]
            response = response + [tokenizer.eos_token_id]
            ids = prompt + response
            if len(ids) > MAX_LENGTH:
                continue
            all_ids.append(ids)
            all_labels.append([-100] * len(prompt) + response)
    table = pa.table({"input_ids": all_ids, "labels": all_labels})
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return all_ids


def stage(src: Path, tokenizer_path: str, out: Path, num_proc: int) -> dict:
    from prep.core.stage import sidecar
    from train.cli import main as tunesmith

    code = tunesmith(["prep", "tokenize", "--input", str(src), "--output", str(out), "--tokenizer-path",
                      tokenizer_path, "--max-length", str(MAX_LENGTH), "--num-proc", str(num_proc), "--quiet"])
    if code:
        raise SystemExit(f"prep tokenize failed with exit status {code}")
    return json.loads(sidecar(out, ".stats.json").read_text())  # named by the stage


def cpu_seconds() -> float:
    """User + system time of this process and its finished children (the stage's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def markdown(figures: dict, env: dict, command: str) -> str:
    rows = [("records", figures["records"]), ("tokens written", figures["tokens"]),
            ("tokenizer", figures["tokenizer"]),
            ("prep tokenize --num-proc 2, tokens/s", figures["stage_np2_tokens_per_s"]),
            ("prep tokenize --num-proc 1, tokens/s", figures["stage_np1_tokens_per_s"]),
            ("per-record loop baseline, tokens/s", figures["baseline_tokens_per_s"]),
            ("speed-up, --num-proc 2 / baseline", f"x{figures['speedup_np2']}"),
            ("speed-up, --num-proc 1 / baseline", f"x{figures['speedup_np1']}"),
            ("tokens per CPU-second: baseline / --num-proc 1 / --num-proc 2",
             " / ".join(str(figures["tokens_per_cpu_s"][k]) for k in ("baseline", "np1", "np2"))),
            ("CPU efficiency, baseline CPU / stage CPU (--num-proc 1, 2)",
             f"x{figures['cpu_efficiency_np1']}, x{figures['cpu_efficiency_np2']}"),
            ("load average (1 min) at the end, other work on the machine", figures["load_average_1min"]),
            ("same token ids on both sides", figures["same_ids"])]
    return (
        f"# tokenize speed benchmark\n\n{describe(command, env)}\n\n"
        "Both sides read the same JSONL of instruction records and write an "
        f"Arrow file; best of {figures['repeat']} runs each, the three sides taking turns.\n\n"
        + "\n".join(table(("measure", "value"), rows)) + "\n\n"
        "Reading the figures: the wall-clock ratio needs both cores free for the stage; where other "
        "work keeps the machine busy (see the load average) each side gets a share of the cores and "
        "the wall-clock ratio falls towards the CPU-efficiency ratio. With --num-proc 1 the Rust "
        "tokenizer already spreads every batch over the cores, so on 2 cores extra processes only add "
        "the cost of sending batches and results between them; they are meant for machines with more "
        "cores, where the Python work around the tokenizer calls becomes the limit (not measured here).\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records instead of 20,000")
    parser.add_argument("--records", type=int, default=None, help="number of records (overrides --quick)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each side; the fastest counts")
    args = parser.parse_args()
    n = args.records or (2000 if args.quick else 20000)
    rng = random.Random(0)
    records = [record(rng, i) for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="tokenize-bench-") as tmp:
        tmp = Path(tmp)
        src = tmp / "train.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        tokenizer_path, described = make_tokenizer(records, tmp / "tokenizer")
        # the three sides take turns, so that a burst of load from other work on the machine
        # favours none of them; CPU seconds include the stage's workers
        walls, cpu_runs, results = take_turns({
            "baseline": lambda: baseline(src, tokenizer_path, tmp / "base.arrow"),
            "np1": lambda: stage(src, tokenizer_path, tmp / "np1.arrow", 1),
            "np2": lambda: stage(src, tokenizer_path, tmp / "np2.arrow", 2)}, args.repeat, cpu_clock=cpu_seconds)
        seconds, cpus = ({k: min(v) for k, v in runs.items()} for runs in (walls, cpu_runs))
        base_s, np1_s, np2_s = seconds["baseline"], seconds["np1"], seconds["np2"]
        stats = results["np2"]
        from prep.tokenize.arrow_io import read_arrow
        same = read_arrow(tmp / "np2.arrow")["input_ids"] == results["baseline"]
    tokens = stats["tokens_total"]
    figures = {"records": n, "tokens": tokens, "tokenizer": described, "repeat": args.repeat,
               "baseline_seconds": round(base_s, 3), "stage_np1_seconds": round(np1_s, 3),
               "stage_np2_seconds": round(np2_s, 3),
               "baseline_tokens_per_s": round(tokens / base_s), "stage_np1_tokens_per_s": round(tokens / np1_s),
               "stage_np2_tokens_per_s": round(tokens / np2_s), "speedup_np2": round(base_s / np2_s, 2),
               "speedup_np1": round(base_s / np1_s, 2), "same_ids": same,
               "cpu_seconds": {k: round(v, 3) for k, v in cpus.items()},
               "tokens_per_cpu_s": {k: round(tokens / v) for k, v in cpus.items()},
               "cpu_efficiency_np1": round(cpus["baseline"] / cpus["np1"], 2),
               "cpu_efficiency_np2": round(cpus["baseline"] / cpus["np2"], 2),
               "load_average_1min": round(os.getloadavg()[0], 2)}
    run, env = command("tokenize_speed"), device_info("transformers", "tokenizers", "pyarrow")
    write_results("tokenize_speed", {"command": run, "environment": env, "figures": figures},
                  markdown(figures, env, run))
    print(f"{n} records, {tokens} tokens ({described})")
    print(f"baseline (per-record loop): {figures['baseline_tokens_per_s']:>10} tokens/s")
    print(f"prep tokenize --num-proc 1: {figures['stage_np1_tokens_per_s']:>10} tokens/s  x{figures['speedup_np1']}")
    print(f"prep tokenize --num-proc 2: {figures['stage_np2_tokens_per_s']:>10} tokens/s  x{figures['speedup_np2']}")
    print(f"CPU seconds: baseline {cpus['baseline']:.2f}, --num-proc 1 {cpus['np1']:.2f}, "
          f"--num-proc 2 {cpus['np2']:.2f} (load average {figures['load_average_1min']})")
    print(f"same token ids: {same}; results in {RESULTS}/tokenize_speed.{{json,md}}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
