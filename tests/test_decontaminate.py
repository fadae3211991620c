"""`prep decontaminate`: planted overlaps between real training records and real eval sets.

Eval side (tests/data/filters/decontam/, see SOURCES.md): the head of GSM8K's test split, of
HumanEval, and of TruthfulQA's CSV (turned into question/answer JSONL here). Training side: the
real records of tests/data/layouts, plus records made from them with eval text planted in.
"""
import argparse
import csv
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from stage_outputs import outputs, read_jsonl

from prep.core.errors import exit_code
from prep.core.records import read_records
from prep.filter.decontaminate import add_arguments, run
from prep.filter.ngrams import EvalIndex, key_of, word_value

DATA = Path(__file__).parent / "data"
EVAL = DATA / "filters" / "decontam"
GSM8K = EVAL / "gsm8k_test.jsonl"
HUMANEVAL = EVAL / "humaneval.jsonl"
BASE_FILES = sorted(p for p in (DATA / "layouts").glob("*.json*") if "toolcalls" not in p.name)


def decontaminate(*argv) -> int:
    """The stage as the command line runs it (its own parser: the CLI table is tested in test_cli)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(a) for a in argv])
    return exit_code(lambda: run(args))


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def words(text: str) -> list[str]:
    """An independent spelling of the normalisation, for building plants (ASCII text only)."""
    return re.findall(r"[^\W_]+", text.casefold())


@pytest.fixture(scope="module")
def evals(tmp_path_factory):
    """(gsm8k records, humaneval records, truthfulqa records, the truthfulqa JSONL path)."""
    with open(EVAL / "truthfulqa.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    truthful = [{"id": f"tqa-{n}", "question": r["Question"], "answer": r["Best Answer"]}
                for n, r in enumerate(rows, 1)]
    path = write_jsonl(tmp_path_factory.mktemp("eval") / "truthfulqa.jsonl", truthful)
    return read_jsonl(GSM8K), read_jsonl(HUMANEVAL), truthful, path


def base_records() -> list[dict]:
    out = []
    for path in BASE_FILES:
        for n, item in enumerate(read_records(path), 1):
            out.append({**item.record, "id": f"base-{path.stem}-{n}"})
    return out


def embed(host: str, planted: str) -> str:
    """``planted`` as a sentence in the middle of ``host``."""
    cut = host.find(". ", len(host) // 2)
    cut = len(host) if cut < 0 else cut + 2
    return f"{host[:cut]} {planted} {host[cut:]}".strip()


def dolly(n: int) -> dict:
    return read_jsonl(DATA / "layouts" / "dolly.jsonl")[n % 10]


def planted(gsm, humaneval, truthful) -> tuple[list[dict], list[dict]]:
    """(positives, negatives): records that must and must not match, each with an id saying how."""
    pos, neg = [], []
    for i in range(10):   # the whole question as the prompt
        pos.append({"id": f"pos-whole-{i}", "instruction": gsm[i]["question"], "input": "",
                    "output": dolly(i)["response"], "expect": f"{GSM8K}:{i + 1}"})
    for i in range(10, 20):   # 13 words from the middle of a question, inside a longer answer
        tokens = gsm[i]["question"].split()
        span = " ".join(tokens[3:16])
        pos.append({"id": f"pos-span-{i}", "instruction": dolly(i)["instruction"],
                    "context": "", "response": embed(dolly(i)["response"], span), "expect": f"{GSM8K}:{i + 1}"})
    changes = [str.upper, lambda t: re.sub(r"[^\w\s]", "", t), lambda t: "\n\n  ".join(t.split(" ")),
               lambda t: t.replace(" ", "\u00a0").replace("'", "\u2019"),
               lambda t: "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in t)]   # full width
    for i in range(20, 30):   # case, punctuation, whitespace and Unicode changes, in a chat turn
        text = changes[i % len(changes)](gsm[i]["question"])
        pos.append({"id": f"pos-changed-{i}", "messages": [
            {"role": "user", "content": "Can you help with my homework?"},
            {"role": "assistant", "content": embed(dolly(i)["response"], text)}], "expect": f"{GSM8K}:{i + 1}"})
    for i in range(30, 35):   # the worked answer copied as a ShareGPT reply
        pos.append({"id": f"pos-answer-{i}", "conversations": [
            {"from": "human", "value": "Solve it step by step."},
            {"from": "gpt", "value": gsm[i]["answer"]}], "expect": f"{GSM8K}:{i + 1}"})
    for i in range(35, 40):   # inside a text record
        pos.append({"id": f"pos-text-{i}", "text": f"Question: {gsm[i]['question']}\nAnswer: see below.",
                    "expect": f"{GSM8K}:{i + 1}"})
    for n, row in enumerate(truthful):   # short questions of 8 to 12 words, matched whole
        if 8 <= len(words(row["question"])) < 13:
            pos.append({"id": f"pos-short-{n}", "prompt": f"Quick one. {row['question']} Thanks!",
                        "completion": "I am not sure.", "expect": f"{row['id']}"})
    for i in range(5):   # HumanEval prompts inside a code answer
        pos.append({"id": f"pos-code-{i}", "instruction": "Write the function.", "input": "",
                    "output": humaneval[i]["prompt"] + "    pass\n", "expect": f"{HUMANEVAL}:{i + 1}"})
    for i in range(40, 50):   # 12 words of a question: one short of an n-gram
        span = " ".join(words(gsm[i]["question"])[2:14])
        neg.append({"id": f"neg-12words-{i}", "text": embed(dolly(i)["response"], span.capitalize() + ".")})
    for i in range(50, 55):   # the whole question with every 13th word changed
        ws = words(gsm[i]["question"])
        ws = ["banana" if k % 13 == 12 else w for k, w in enumerate(ws)]
        neg.append({"id": f"neg-every13th-{i}", "text": " ".join(ws)})
    for n, row in enumerate(truthful):   # questions under --min-words words: phrases, not copies
        if len(words(row["question"])) < 8:
            neg.append({"id": f"neg-short-{n}", "text": embed(dolly(n)["response"], row["question"])})
    for i in range(55, 58):   # 13 words split between the prompt and the response
        ws = words(gsm[i]["question"])
        neg.append({"id": f"neg-split-{i}", "input": " ".join(ws[:7]), "output": " ".join(ws[7:13])})
    neg.append({"id": "neg-wet-hair", "input": "Any advice for winter?",   # 11 words of an answer
                "output": "If you go outdoors in cold weather with wet hair, you should dry it first."})
    neg.append({"id": "neg-test-harness", "instruction": "Write a test.", "input": "",   # HumanEval's template
                "output": "METADATA = {\n    'author': 'jt',\n    'dataset': 'test'\n}\n\n\ndef check(candidate):\n"
                          "    assert candidate('hello') == 5\n"})
    return pos, neg


def test_planted_overlaps_precision_and_recall(tmp_path, evals):
    gsm, humaneval, truthful, truthful_path = evals
    pos, neg = planted(gsm, humaneval, truthful)
    base = base_records()
    mixed = base + pos + neg
    random.Random(7).shuffle(mixed)
    expect = {r["id"]: r.pop("expect", None) for r in mixed}
    src = write_jsonl(tmp_path / "train.jsonl", mixed)
    out = tmp_path / "out.jsonl"
    assert decontaminate("--input", src, "--output", out, "--quiet",
                         "--against", GSM8K, HUMANEVAL, truthful_path) == 0
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    kept, rejected, stats = outputs(out)
    dropped = {r["record"]["id"]: r for r in rejected}
    positives = {r["id"] for r in pos}
    true_pos = len(positives & dropped.keys())
    precision = true_pos / len(dropped)
    recall = true_pos / len(positives)
    print(f"\nplanted: {len(pos)} positives, {len(neg)} near misses, {len(base)} real records; "
          f"precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95 and recall == 1.0, sorted(dropped.keys() ^ positives)
    assert dropped.keys() == positives   # no near miss and no real record dropped
    # Each reject names the eval record it came from, the line (or id) and the words shared.
    for rid, reject in dropped.items():
        assert reject["reason"] == "contaminated" and reject["where"].startswith(f"{src}:")
        assert expect[rid] in reject["detail"], (rid, reject["detail"])
    assert 'id HumanEval/0: "' in dropped["pos-code-0"]["detail"]
    assert dropped["pos-whole-0"]["detail"].endswith(
        '"janet s ducks lay 16 eggs per day she eats three for breakfast"')
    # Kept records are the input lines, byte for byte and in order.
    assert out.read_text(encoding="utf-8") == "".join(
        line for line, r in zip(lines, mixed) if r["id"] not in dropped)
    assert stats["read"] == len(mixed) and stats["dropped"] == {"contaminated": len(pos)}


def test_stats_give_contamination_per_eval_file(tmp_path, evals):
    gsm, humaneval, truthful, truthful_path = evals
    train = [{"id": "a", "input": "x", "output": gsm[0]["question"] + " " + gsm[1]["question"]},
             {"id": "b", "text": humaneval[2]["prompt"] + "\n" + gsm[1]["question"]},
             {"id": "c", "text": "Nothing to do with any benchmark, but long enough to have thirteen words in it."}]
    out = tmp_path / "out.jsonl"
    assert decontaminate("--input", write_jsonl(tmp_path / "t.jsonl", train), "--output", out, "--quiet",
                         "--against", EVAL, truthful_path) == 0   # a folder: gsm8k and humaneval
    _, _, stats = outputs(out)
    against = stats["against"]
    assert list(against) == [str(GSM8K), str(HUMANEVAL), str(truthful_path)]
    g, h, t = against.values()
    assert (g["records"], g["too_short"], g["matched_training"], g["contaminated"]) == (58, 0, 2, 2)
    assert g["contaminated_share"] == round(2 / 58, 4)
    assert (h["records"], h["matched_training"], h["contaminated"]) == (10, 1, 1)
    # TruthfulQA: 23 records; only the chameleons one has both its question (5 words) and its
    # answer (7 words) under 8 words. Its 8-to-12-word fields are matched whole.
    assert (t["records"], t["too_short"], t["contaminated"]) == (23, 1, 0)
    assert t["whole_fields"] == sum(8 <= len(words(r[k])) < 13 for r in truthful for k in ("question", "answer"))
    # GSM8K's fields are all 13 words or more: every n-gram is a 13-word window.
    expected = len({tuple(ws[k:k + 13]) for r in gsm for f in (r["question"], r["answer"])
                    for ws in [words(f)] for k in range(len(ws) - 12)})
    assert g["ngrams"] == expected and g["whole_fields"] == 0
    assert stats["ngram"] == 13 and stats["min_words"] == 8
    # 12 bytes per n-gram (key and record number) and 1 to 2 bytes of bit table.
    assert 13 * stats["index"]["ngrams"] <= stats["index"]["bytes"] < 14 * stats["index"]["ngrams"]
    assert all(len(s["sha256"]) == 64 for s in against.values())


def test_ngram_and_min_words_flags(tmp_path, evals):
    gsm, _, truthful, truthful_path = evals
    twelve = " ".join(words(gsm[3]["question"])[:12])
    src = write_jsonl(tmp_path / "t.jsonl", [{"id": 1, "text": f"Note: {twelve}."},
                                              {"id": 2, "text": "Tell me: why do veins appear blue?"},
                                              {"id": 3, "text": "A record about something else entirely."}])
    out = tmp_path / "out.jsonl"
    assert decontaminate("--input", src, "--output", out, "--quiet", "--against", GSM8K, truthful_path) == 0
    assert [r["id"] for r in read_jsonl(out)] == [1, 2, 3]
    assert decontaminate("--input", src, "--output", out, "--quiet", "--against", GSM8K, truthful_path,
                         "--ngram", "12", "--min-words", "5") == 0
    kept, rejected, stats = outputs(out)
    assert [r["id"] for r in kept] == [3] and stats["ngram"] == 12
    assert {r["record"]["id"]: r["detail"].split(": ")[0] for r in rejected} == {
        1: f"matches {GSM8K}:4", 2: f"matches {truthful_path}:3 id tqa-3"}


def test_common_template_ngrams_are_ignored(tmp_path, evals):
    gsm = evals[0]
    template = "Solve the following grade school math problem and give the final answer after four hash marks."
    prompts = write_jsonl(tmp_path / "fewshot.jsonl", [{"id": f"p{i}", "text": f"{template}\n\n{r['question']}"}
                                                      for i, r in enumerate(gsm[:12])])
    src = write_jsonl(tmp_path / "t.jsonl", [{"id": "mine", "input": template, "output": "Sure."},
                                             {"id": "copy", "input": gsm[11]["question"], "output": "42"}])
    out = tmp_path / "out.jsonl"
    assert decontaminate("--input", src, "--output", out, "--quiet", "--against", prompts) == 0
    kept, rejected, stats = outputs(out)
    assert [r["id"] for r in kept] == ["mine"] and rejected[0]["record"]["id"] == "copy"
    assert stats["index"]["common_ngrams"] == len(words(template)) - 12
    assert decontaminate("--input", src, "--output", out, "--quiet", "--against", prompts,
                         "--ignore-common", "0") == 2   # now the template matches: nothing kept


def test_nothing_kept_is_exit_2_with_rejects(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert decontaminate("--input", GSM8K, "--output", out, "--quiet", "--against", GSM8K) == 2
    assert "kept 0 of 58" in capsys.readouterr().err
    rejected = read_jsonl(out.with_name(out.name + ".rejected.jsonl"))
    assert len(rejected) == 58 and rejected[5]["detail"].startswith(f"matches {GSM8K}:6: ")


def test_setup_errors_stop_before_any_output(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    missing = tmp_path / "nope.jsonl"
    assert decontaminate("--input", GSM8K, "--output", out, "--against", HUMANEVAL, missing) == 2
    assert f"--against {missing}: no such file" in capsys.readouterr().err
    lines = GSM8K.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines[:2] + ['{"question": "cut short'] + lines[3:]) + "\n", encoding="utf-8")
    assert decontaminate("--input", GSM8K, "--output", out, "--against", broken) == 2
    assert f"--against {broken}:3: invalid JSON" in capsys.readouterr().err
    short = write_jsonl(tmp_path / "short.jsonl", [{"question": "Why do veins appear blue?", "answer": "Light."}])
    assert decontaminate("--input", GSM8K, "--output", out, "--against", short) == 2
    assert "none with a field of at least --min-words 8 words" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("out.jsonl*"))


def test_broken_training_lines_are_counted_not_fatal(tmp_path, evals):
    gsm = evals[0]
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"id": 1, "text": gsm[0]["question"]}) + "\n{broken\n"
                   + json.dumps({"id": 3, "input": "hi", "output": 7}) + "\n"
                   + json.dumps({"id": 4, "text": "fine"}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert decontaminate("--input", src, "--output", out, "--quiet", "--against", GSM8K) == 0
    kept, rejected, stats = outputs(out)
    assert [r["id"] for r in kept] == [4]
    assert (stats["errors"], stats["dropped"]) == (2, {"contaminated": 1})
    assert {r["where"] for r in rejected if r["reason"] == "error"} == {f"{src}:2", f"{src}:3"}


def test_keys_are_stable_and_lookups_agree_with_brute_force():
    # Pinned: a key is a fixed function of the words, the same in every run and on every machine.
    # (xxh3-64 of the word, then the polynomial fold and splitmix64's finaliser).
    assert word_value(b"janet") == 0x957D9F953C94FEBB
    assert key_of([b"janet", b"s", b"ducks", b"lay", b"16"]) == 0xF7B935C516E6C4DE
    rng = random.Random(3)
    vocab = [f"w{i}".encode() for i in range(4)]
    evals = [[rng.choice(vocab) for _ in range(rng.randint(2, 30))] for _ in range(40)]
    index = EvalIndex(n=6, min_words=4)
    for fields in evals:
        index.add([fields])
    index.finish(0)
    expected = set()
    for owner, ws in enumerate(evals):
        length = min(len(ws), 6)
        if len(ws) >= 4:
            expected |= {(tuple(ws[k:k + length]), owner) for k in range(len(ws) - length + 1)}
    first_owner = {}
    for gram, owner in sorted(expected, key=lambda pair: pair[1]):
        first_owner.setdefault(gram, owner)
    train = [rng.choice(vocab + [b"zz"]) for _ in range(3000)]
    train[100:103] = [b"", b"", b""]
    starts, lengths, owners = index.find(index.values_of(train))
    got = {(int(s), int(n), int(o)) for s, n, o in zip(starts, lengths, owners)}
    want = {(s, n, first_owner[tuple(train[s:s + n])]) for s in range(len(train)) for n in {4, 5, 6}
            if tuple(train[s:s + n]) in first_owner and b"" not in train[s:s + n]}
    assert got == want and len(want) > 50
    assert np.all(index.keys[1:] > index.keys[:-1])


def test_eval_records_of_no_layout_give_every_string_but_ids_and_meta(tmp_path):
    """A multiple-choice eval record (ARC's nesting) made from TruthfulQA's CSV: its choices count,
    its id and meta do not."""
    with open(EVAL / "truthfulqa.csv", encoding="utf-8", newline="") as fh:
        row = list(csv.DictReader(fh))[7]   # the penny from the Empire State Building
    gsm = read_jsonl(GSM8K)
    choices = row["Correct Answers"].split("; ") + row["Incorrect Answers"].split("; ")
    mc = write_jsonl(tmp_path / "mc.jsonl", [{
        "id": gsm[2]["question"], "question": {"stem": row["Question"], "choices": [
            {"text": text, "label": chr(65 + n)} for n, text in enumerate(choices)]},
        "answerKey": "B", "meta": {"source": gsm[0]["question"]}}])
    src = write_jsonl(tmp_path / "t.jsonl", [
        {"id": "choice", "text": f"Rumour: {choices[-1]}. Not true."},
        {"id": "meta", "text": gsm[0]["question"]}, {"id": "id", "text": gsm[2]["question"]}])
    out = tmp_path / "out.jsonl"
    assert decontaminate("--input", src, "--output", out, "--quiet", "--against", mc) == 0
    kept, rejected, _ = outputs(out)
    assert [r["id"] for r in kept] == ["meta", "id"]
    assert rejected[0]["detail"].startswith(f'matches {mc}:1 id {gsm[2]["question"]}: "if you were struck by')
