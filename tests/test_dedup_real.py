"""prep dedup with its defaults on real sets, checked against hand labels (tests/data/dedup/).

Three sets: templated SQL questions (WikiSQL dev, one value apart) and GSM8K word problems;
small Python modules that share a licence header and generated boilerplate (transformers);
ShareGPT answers repeated across conversation splits (tests/data/code, tests/data/refusals).
Every record dedup drops must be a labelled pair, its rejects line must name the record it was
kept as, and what it keeps must be the input line byte for byte with only ``meta`` added.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.cli import main

DATA = Path(__file__).parent / "data"
HERE = DATA / "dedup"
LABELS = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
SHAREGPT = [DATA / "code" / "sharegpt_code.jsonl", DATA / "refusals" / "dev.jsonl"]
# Labels that make a drop right; "renamed-copy" is right only by the looser rule (see labels.json).
RIGHT = {"duplicate"}


def sql_text(sql: dict) -> str:
    """A WikiSQL row's structured query as one SQL string (the table is always ``t``)."""
    column = f'{sql["agg"]}("{sql["sel"]}")' if sql["agg"] else f'"{sql["sel"]}"'
    where = " AND ".join(f'"{c}" {op} {json.dumps(v, ensure_ascii=False)}' for c, op, v in sql["conds"])
    return f"SELECT {column} FROM t" + (f" WHERE {where}" if where else "")


def as_question_answer(src: Path, dst: Path) -> Path:
    """WikiSQL rows as a user turns them into training records: question -> SQL."""
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines()]
    dst.write_text("".join(json.dumps({"id": f"wikisql-dev:{r['question_id']}", "question": r["question"],
                                       "answer": sql_text(r["sql"])}, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    return dst


def joined(tmp_path: Path, *sources: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(s.read_bytes() for s in sources))
    return path


def dedup(src: Path, out: Path, *flags: str) -> tuple[int, list[str], list[dict], dict]:
    code = main(["prep", "dedup", "--input", str(src), "--output", str(out), "--quiet", *flags])
    kept = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    rejects = [json.loads(x) for x in Path(f"{out}.rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    return code, kept, rejects, json.loads(Path(f"{out}.stats.json").read_text(encoding="utf-8"))


def scored(rejects: list[dict], labels: list[dict]) -> tuple[int, int, int]:
    """(drops labelled right, drops, labelled duplicates found): each drop is judged against the
    record it names as kept; a drop without a label fails the test."""
    label = {frozenset((p["a"], p["b"])): p["label"] for p in labels}
    found = [label.get(frozenset((r["record"]["id"], r["record"]["meta"]["dup_of"]))) for r in rejects]
    assert None not in found, [r["record"]["id"] for r, f in zip(rejects, found) if f is None]
    right = sum(f in RIGHT for f in found)
    return right, len(found), right


def check_kept_bytes(src: Path, kept: list[str]) -> None:
    """A kept line is its input line with `"meta": {...}` added at the end, nothing else."""
    lines = {json.loads(x)["id"]: x for x in src.read_text(encoding="utf-8").splitlines()}
    for line in kept:
        record = json.loads(line)
        assert line.startswith(lines[record["id"]][:-1] + ', "meta": {'), record["id"]
        assert list(record["meta"]) == ["dup_group", "dup_count"]


def test_records_with_no_words_are_not_one_group_of_duplicates(tmp_path):
    """Raw WikiSQL rows (question + a structured `sql` object) are no layout dedup reads: every
    row has no words. They all shared one exact key, so 119 of 120 went as exact duplicates of
    the first with exit 0; now each is dropped as empty with its keys, and the stage exits 2."""
    code, kept, rejects, stats = dedup(HERE / "wikisql_dev_head.jsonl", tmp_path / "raw.jsonl")
    assert code == 2 and kept == []
    assert {r["reason"] for r in rejects} == {"empty"} and len(rejects) == 120
    assert "keys: phase, table_id, question, sql, question_id" in rejects[0]["detail"]
    assert stats["wordless"] == 120 and stats["exact_duplicates"] == 0


def test_wordless_records_pass_with_keep_duplicates_and_do_not_hide_real_copies(tmp_path):
    rows = [{"id": "a", "sql": {"sel": 1}}, {"id": "b", "sql": {"sel": 2}},
            {"id": "c", "text": "a real sentence that appears twice in the file"},
            {"id": "d", "text": "A real sentence that appears twice in the file."}]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, kept, rejects, _ = dedup(src, tmp_path / "out.jsonl")
    assert code == 0 and [json.loads(x)["id"] for x in kept] == ["c"]
    assert [(r["record"]["id"], r["reason"]) for r in rejects] == [("a", "empty"), ("b", "empty"),
                                                                    ("d", "exact-duplicate")]
    code, kept, _, _ = dedup(src, tmp_path / "all.jsonl", "--keep-duplicates")
    assert [json.loads(x)["meta"]["dup_count"] for x in kept] == [1, 1, 2, 2]


def test_templated_questions_one_value_apart_are_all_kept(tmp_path):
    """120 WikiSQL questions (many from one template, one value apart) and 58 GSM8K problems:
    the defaults join none. The one re-asked WikiSQL question (63 and 66, same SQL) is missed:
    its 5-word shingles overlap under 0.5, far below any useful threshold."""
    qa = as_question_answer(HERE / "wikisql_dev_head.jsonl", tmp_path / "qa.jsonl")
    src = joined(tmp_path, qa, DATA / "filters" / "decontam" / "gsm8k_test.jsonl")
    code, kept, rejects, stats = dedup(src, tmp_path / "out.jsonl")
    assert code == 0 and rejects == [] and len(kept) == 178
    assert stats["candidate_pairs"] >= 0 and stats["verified_pairs"] == 0


def test_sharegpt_repeats_precision_and_recall(tmp_path):
    src = joined(tmp_path, *SHAREGPT)
    code, kept, rejects, stats = dedup(src, tmp_path / "out.jsonl")
    assert code == 0
    right, drops, found = scored(rejects, LABELS["sharegpt"])
    wanted = sum(p["label"] == "duplicate" for p in LABELS["sharegpt"])
    assert (right, drops) == (8, 9) and found == wanted      # precision 8/9, recall 8/8
    for r in rejects:
        assert f'as {r["record"]["meta"]["dup_of"]} (' in r["detail"] or f'of {r["record"]["meta"]["dup_of"]} (' in r["detail"]
        assert r["where"].startswith(str(src))
    assert len(kept) + len(rejects) == stats["read"]


@pytest.mark.parametrize("threshold, expected", [("0.7", (8, 10)), ("0.9", (7, 7))])
def test_sharegpt_threshold_trade_off(tmp_path, threshold, expected):
    """0.7 adds a different answer (another version of the code); 0.9 loses one true repeat
    (jaccard 0.888) and the regenerated dialogue (0.827, labelled distinct)."""
    _, _, rejects, _ = dedup(joined(tmp_path, *SHAREGPT), tmp_path / "out.jsonl", "--threshold", threshold)
    right, drops, _ = scored(rejects, LABELS["sharegpt"])
    assert (right, drops) == expected


def test_code_with_shared_headers_drops_only_renamed_copies_and_keeps_bytes(tmp_path):
    """186 small transformers modules: every drop is a renamed copy (same body, other names);
    none is distinct code that only shares the licence header. 34 of the 54 are joined through
    another member: their similarity to the kept record is under the threshold."""
    src = HERE / "transformers_small_modules.jsonl"
    code, kept, rejects, stats = dedup(src, tmp_path / "out.jsonl")
    assert code == 0 and len(kept) + len(rejects) == 186
    right, drops, _ = scored(rejects, LABELS["code"])
    assert drops == len(LABELS["code"]) and right == 0          # all renamed copies, none trivial
    chained = [r for r in rejects if r["record"]["meta"]["dup_similarity"] < 0.8]
    assert all("joined through" in r["detail"] for r in chained) and len(chained) == 34
    assert stats["largest_group"] == 40
    check_kept_bytes(src, kept)
    _, _, strict, _ = dedup(src, tmp_path / "strict.jsonl", "--threshold", "0.9")
    assert strict == []
