"""prep inspect: decoded examples with the masked part marked, and a check of every row."""
from __future__ import annotations

import json

import pytest

from prep.tokenize.arrow_io import read_arrow, read_metadata, write_arrow

RECORDS = [
    {"id": 1, "input": "what is the capital of france?\n", "output": "the capital of france is paris."},
    {"id": 2, "input": "write a short poem about the sea.\n", "output": "the sea is wide and grey and cold."},
    {"id": 3, "messages": [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "the fox"}]},
    {"id": 4, "text": "the quick brown fox jumps over the lazy dog"},
]


@pytest.fixture
def made(tmp_path, cli, tokenizers_dir):
    """A good file from `prep tokenize` and a function writing altered copies of it."""
    src = tmp_path / "train.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    good = tmp_path / "train.arrow"
    tok = tokenizers_dir["bos_eos"]
    code, _, err = cli("prep", "tokenize", "--input", src, "--output", good, "--tokenizer-path", tok,
                       "--max-length", 64, "--prompt-format", "raw", "--quiet")
    assert code == 0, err
    rows = read_arrow(good).to_list()

    def altered(row: int, change) -> str:
        changed = [dict(r) for r in rows]
        change(changed[row])
        path = tmp_path / f"bad{row}.arrow"
        write_arrow(changed, path, read_metadata(good))
        return path
    return good, tok, altered


def test_good_file_passes_and_marks_masked_part(made, cli):
    good, tok, _ = made
    code, out, err = cli("prep", "inspect", good, "--tokenizer-path", tok, "-n", 2)
    assert code == 0, out + err
    assert "[[<s>what is the capital of france?\n]]the capital of france is paris.</s>" in out
    assert "example 1" in out and "example 2" not in out
    assert "all checks passed" in out and "rows 4" in out
    assert "made with: prompt format raw, system prompt none" in out


def drop_eos(row):
    row["input_ids"], row["labels"] = row["input_ids"][:-1], row["labels"][:-1]


def shift_label(row):
    row["labels"] = row["labels"][1:] + [-100]


def mask_all(row):
    row["labels"] = [-100] * len(row["labels"])


def mask_eos(row):
    row["labels"] = row["labels"][:-1] + [-100]


def double_bos(row):
    row["input_ids"], row["labels"] = row["input_ids"][:1] + row["input_ids"], [-100] + row["labels"]


@pytest.mark.parametrize("row, change, check", [
    (1, drop_eos, "no-eos"),
    (0, shift_label, "label-alignment"),
    (2, mask_all, "fully-masked"),
    (1, mask_eos, "eos-masked"),
    (0, double_bos, "double-bos"),
])
def test_corrupted_row_fails_by_name(made, cli, row, change, check):
    _, tok, altered = made
    code, out, _ = cli("prep", "inspect", altered(row, change), "--tokenizer-path", tok, "-n", 0)
    assert code == 1
    assert f"row {row}: {check}:" in out
    assert "all checks passed" not in out


def test_length_limit_and_length_column(made, cli, tmp_path):
    import pyarrow as pa

    good, tok, _ = made
    code, out, _ = cli("prep", "inspect", good, "--tokenizer_path", tok, "-n", 0, "--max_length", 12)
    assert code == 1 and "too-long" in out
    # A file in the IPC file format whose length column lies about row 3.
    table = read_arrow(good).data.table
    lengths = table["length"].to_pylist()
    lengths[3] += 1
    table = table.set_column(2, "length", pa.array(lengths, pa.int32()))
    path = tmp_path / "file-format.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    code, out, _ = cli("prep", "inspect", path, "--tokenizer-path", tok, "-n", 0)
    assert code == 1 and "row 3: length-column:" in out
