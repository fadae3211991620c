"""Sharded outputs: a folder of parts with a manifest written last, read back like one file.

Inputs are the real ShareGPT turns of tests/data/refusals (their sources are in its SOURCES.md):
`prep clean` drops the refusals among them, so both kept records and rejects are exercised.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from stage_outputs import read_jsonl, stats_of

from prep.core.errors import StageError
from prep.core.records import input_files, read_records
from prep.core.shards import ShardedOutput
from prep.core.stage import Stage

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "refusals" / "dev.jsonl"   # 276 records, 83 of them refusals


def ok(cli, *args) -> None:
    """Run `tunesmith prep ARGS --quiet` in process; it must succeed."""
    code, _, err = cli("prep", *args, "--quiet")
    assert code == 0, err


def failure(cli, *args) -> str:
    """Run `tunesmith prep ARGS --quiet`; it must stop with exit 2. Returns its stderr."""
    code, _, err = cli("prep", *args, "--quiet")
    assert code == 2, err
    return err


def parts_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.jsonl"))


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_clean_in_parts_writes_the_single_file_cut_into_parts(tmp_path, cli):
    ok(cli, "clean", "--input", REAL, "--output", tmp_path / "one.jsonl")
    ok(cli, "clean", "--input", REAL, "--output", tmp_path / "out", "--shard-records", 50)
    out = tmp_path / "out"
    one = (tmp_path / "one.jsonl").read_bytes()
    assert b"".join(p.read_bytes() for p in parts_of(out)) == one  # same records, same order, same bytes
    stats, single = stats_of(out), stats_of(tmp_path / "one.jsonl")
    assert (stats["kept"], stats["dropped"]) == (single["kept"], single["dropped"])
    assert stats["dropped"]["refusal"] > 50
    rejects = tmp_path / "out.rejected.jsonl"
    assert rejects.read_bytes() == (tmp_path / "one.jsonl.rejected.jsonl").read_bytes()
    manifest = manifest_of(out)
    assert [p["name"] for p in manifest["parts"]] == [p.name for p in parts_of(out)]
    assert len(manifest["parts"]) == -(-stats["kept"] // 50)
    for entry in manifest["parts"]:
        data = (out / entry["name"]).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["records"] == data.count(b"\n") and 0 < entry["records"] <= 50
    assert manifest["records"] == stats["kept"] and manifest["bytes"] == len(one)
    assert (manifest["format"], manifest["version"], manifest["stage"]) == ("tunesmith-shards", 1, "clean")
    assert manifest["options"]["shard_records"] == 50 and manifest["created"].endswith("Z")
    assert stats["output_sha256"]["output"] == manifest["content_sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one.jsonl", "one.jsonl.rejected.jsonl", "one.jsonl.stats.json", "out", "out.rejected.jsonl",
        "out.stats.json"]


def test_a_sharded_folder_reads_like_the_file(tmp_path, cli):
    # Every record twice, so that dedup has duplicates to drop in later parts.
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_bytes(REAL.read_bytes() * 2)
    ok(cli, "clean", "--input", doubled, "--output", tmp_path / "c.jsonl")
    ok(cli, "clean", "--input", doubled, "--output", tmp_path / "c", "--shard-records", 40)
    for name in ("c.jsonl", "c"):
        ok(cli, "dedup", "--input", tmp_path / name, "--output", tmp_path / f"from-{name}.jsonl")
    assert records_in(tmp_path / "c") == records_in(tmp_path / "c.jsonl")
    assert (tmp_path / "from-c.jsonl").read_bytes() == (tmp_path / "from-c.jsonl.jsonl").read_bytes()
    from_parts = read_jsonl(tmp_path / "from-c.jsonl.rejected.jsonl")
    from_file = read_jsonl(tmp_path / "from-c.jsonl.jsonl.rejected.jsonl")
    assert len(from_parts) == len(from_file) > 100
    # file:line names the part and its line: part k, line n is line 40 k + n of the single file.
    for a, b in zip(from_parts, from_file):
        part, line = a["where"].rsplit(":", 1)
        assert Path(part).parent == tmp_path / "c" and Path(part).name.startswith("part-")
        assert 40 * int(Path(part).stem.split("-")[1]) + int(line) == int(b["where"].rsplit(":", 1)[1])
        assert a["record"] == b["record"]
    assert stats_of(tmp_path / "from-c.jsonl")["read"] == stats_of(tmp_path / "c")["kept"]


def test_dedup_writes_parts_and_a_trailing_slash_asks_for_them(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    src.write_bytes(REAL.read_bytes() + REAL.read_bytes()[:20000])
    ok(cli, "dedup", "--input", src, "--output", tmp_path / "d.jsonl")
    one = (tmp_path / "d.jsonl").read_bytes()
    ok(cli, "dedup", "--input", src, "--output", tmp_path / "d7", "--shard-records", 7)
    assert b"".join(p.read_bytes() for p in parts_of(tmp_path / "d7")) == one
    assert stats_of(tmp_path / "d7")["dropped"] == stats_of(tmp_path / "d.jsonl")["dropped"] != {}
    ok(cli, "dedup", "--input", src, "--output", f"{tmp_path / 'slash'}/")
    assert manifest_of(tmp_path / "slash")["part_records"] == 100_000
    assert [p.read_bytes() for p in parts_of(tmp_path / "slash")] == [one]


def test_parts_end_only_at_a_newline_whatever_the_writes(tmp_path):
    out = ShardedOutput(tmp_path / "o", 2, "t", {})
    for piece in ['{"a"', ': 1}\n{"a": 2}\n{"a": 3}\n{"a": 4}\n{"a"', ": 5}"]:  # the last line unterminated
        out.handle.write(piece)
    out.commit()
    parts = manifest_of(tmp_path / "o")["parts"]
    assert [p["records"] for p in parts] == [2, 2, 1]
    assert [r.record["a"] for r in read_records(tmp_path / "o")] == [1, 2, 3, 4, 5]
    empty = ShardedOutput(tmp_path / "e", 5)
    empty.commit()  # nothing written: one empty part, read like an empty file
    assert [p.name for p in parts_of(tmp_path / "e")] == ["part-00000.jsonl"]
    assert records_in(tmp_path / "e") == []


def test_a_rerun_replaces_the_folder_whole(tmp_path, cli):
    out = tmp_path / "out"
    ok(cli, "clean", "--input", REAL, "--output", out, "--shard-records", 20)
    assert len(parts_of(out)) == 10
    ok(cli, "clean", "--input", REAL, "--output", out, "--shard-records", 100)
    assert [p.name for p in parts_of(out)] == ["part-00000.jsonl", "part-00001.jsonl"]  # no part left over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.rejected.jsonl", "out.stats.json"]
    # A file output over the folder is refused, and so is a folder output over a folder not ours.
    assert f"{out} is a folder" in failure(cli, "clean", "--input", REAL, "--output", out)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not ours")
    err = failure(cli, "clean", "--input", REAL, "--output", f"{tmp_path / 'mine'}/")
    assert "not a sharded output" in err and (tmp_path / "mine" / "notes.txt").exists()


def test_parts_without_a_manifest_are_refused(tmp_path, cli):
    ok(cli, "clean", "--input", REAL, "--output", tmp_path / "out", "--shard-records", 100)
    (tmp_path / "out" / "manifest.json").unlink()
    err = failure(cli, "dedup", "--input", tmp_path / "out", "--output", tmp_path / "d.jsonl")
    assert f"{tmp_path / 'out'}: holds 2 part files" in err and "no manifest.json" in err
    assert "killed run" in err and not (tmp_path / "d.jsonl").exists()
    # Inside a folder of inputs too; a glob naming the parts reads them as plain files.
    (tmp_path / "all").mkdir()
    shutil.move(tmp_path / "out", tmp_path / "all" / "out")
    with pytest.raises(StageError, match="incomplete sharded output"):
        input_files(tmp_path / "all")
    assert len(input_files(f"{tmp_path / 'all' / 'out'}/part-*.jsonl")) == 2


def test_a_changed_part_is_refused(tmp_path, cli):
    ok(cli, "clean", "--input", REAL, "--output", tmp_path / "out", "--shard-records", 100)
    dedup = ("dedup", "--input", tmp_path / "out", "--output", tmp_path / "d.jsonl")
    part = tmp_path / "out" / "part-00001.jsonl"
    original = part.read_bytes()
    part.write_bytes(original + b'{"id": "added", "text": "one more line"}\n')
    err = failure(cli, *dedup)
    assert "part-00001.jsonl holds" in err and "where manifest.json lists" in err
    part.write_bytes(original.replace(b"a", b"A", 1))  # same size, other bytes
    assert "part-00001.jsonl does not match its sha256" in failure(cli, *dedup)
    assert not (tmp_path / "d.jsonl").exists()
    # A reader with no stage around it (the training runner's) finds it at the end of that part.
    with pytest.raises(StageError, match="does not match its sha256"):
        list(read_records(tmp_path / "out"))
    part.unlink()
    with pytest.raises(StageError, match="part-00001.jsonl is listed in manifest.json but missing"):
        input_files(tmp_path / "out")


def test_temporaries_inside_an_input_folder_are_not_read(tmp_path):
    (tmp_path / "in" / ".out.tmp-123").mkdir(parents=True)
    (tmp_path / "in" / ".out.tmp-123" / "part-00000.jsonl").write_text('{"text": "half written"}\n')
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "whole"}\n')
    assert input_files(tmp_path / "in") == [tmp_path / "in" / "a.jsonl"]


def test_binary_outputs_are_not_sharded_yet(tmp_path, cli):
    code, _, err = cli("prep", "tokenize", "--input", REAL, "--output", tmp_path / "t", "--shard-records", 5,
                       "--tokenizer-path", tmp_path)
    assert code == 2 and "unrecognized arguments: --shard-records" in err
    with pytest.raises(StageError, match="only JSONL outputs are written in parts"):
        with Stage("t", tmp_path / "o.arrow", {"shard_records": 3}, binary_outputs=["output"]):
            pass
    assert not list(tmp_path.iterdir())


# Runs `tunesmith ARGS` and SIGKILLs itself at the Nth call of one of os.replace, os.fsync or
# shutil.rmtree: the points where a sharded output is synced, swapped in and the old one removed.
KILL_AT = """
import os, shutil, signal, sys
from train.cli import main
name, limit, calls = sys.argv[1], int(sys.argv[2]), [0]
owner, attr = {"replace": (os, "replace"), "fsync": (os, "fsync"), "rmtree": (shutil, "rmtree")}[name]
real = getattr(owner, attr)
def wrapped(*args, **kwargs):
    calls[0] += 1
    if calls[0] == limit:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
setattr(owner, attr, wrapped)
sys.exit(main(sys.argv[3:]))
"""


def run(*args, kill: tuple[str, int] = ("replace", 0)):
    return subprocess.run([sys.executable, "-c", KILL_AT, kill[0], str(kill[1]), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def records_in(folder: Path) -> list[dict]:
    return [item.record for item in read_records(folder)]


# With 3 parts: fsync 1-3 close the parts, 4 the manifest, 5 the folder; replace 1 and 2 are the
# rejects and stats files, 3 moves the old folder aside, 4 moves the new one in; rmtree removes the old.
@pytest.mark.parametrize("kill", [("fsync", 2), ("fsync", 4), ("fsync", 5), ("replace", 3), ("replace", 4),
                                  ("rmtree", 1)])
def test_a_killed_run_never_leaves_a_complete_looking_folder(tmp_path, kill):
    old_src, new_src, out = tmp_path / "old.jsonl", tmp_path / "new.jsonl", tmp_path / "out"
    lines = REAL.read_text().splitlines(keepends=True)
    old_src.write_text("".join(lines[:30]))
    new_src.write_text("".join(lines[30:90]))
    clean = ("prep", "clean", "--output", out, "--quiet", "--input")
    assert run(*clean, old_src, "--shard-records", 10).returncode == 0
    old = records_in(out)
    killed = run(*clean, new_src, "--shard-records", 15, kill=kill)
    assert killed.returncode == -9, killed.stderr
    if kill[0] == "rmtree":
        assert len(records_in(out)) == stats_of(out)["kept"]  # the new folder is in; the old one left over
    elif out.exists():  # before the swap: the old folder, whole (its manifest checks out); else none at all
        assert records_in(out) == old
    else:
        assert kill == ("replace", 4)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith((".out.tmp-", ".out.old-"))]
    if kill == ("replace", 3):  # new stats beside the old folder: the next stage says so
        nxt = run("prep", "dedup", "--input", out, "--output", tmp_path / "d.jsonl", "--quiet")
        assert nxt.returncode == 0 and "describes another version of" in nxt.stderr
    done = run(*clean, new_src, "--shard-records", 15)
    assert done.returncode == 0, done.stderr
    assert len(records_in(out)) == stats_of(out)["kept"] and manifest_of(out)["part_records"] == 15
    assert stats_of(out)["output_sha256"]["output"] == manifest_of(out)["content_sha256"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # the leftovers are gone


@pytest.mark.slow
def test_the_training_runner_reads_a_sharded_folder(tmp_path, cli, tokenizers_dir):
    from transformers import AutoTokenizer

    from train.lm.data import load_jsonl, source_kind
    ok(cli, "clean", "--input", REAL, "--output", tmp_path / "one.jsonl")
    ok(cli, "clean", "--input", REAL, "--output", tmp_path / "out", "--shard-records", 30)
    tok = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"])
    args = types.SimpleNamespace(dataset_format=None, max_length=2048, train_on_source=False, source_max_len=None,
                                 target_max_len=None, prompt_format="auto", system_prompt="none", template_file=None)
    assert source_kind(str(tmp_path / "out")) == "jsonl"
    sharded = load_jsonl(str(tmp_path / "out"), tok, args, ())
    single = load_jsonl(str(tmp_path / "one.jsonl"), tok, args, ())
    assert len(sharded) == len(single) > 100 and sharded["input_ids"] == single["input_ids"]
    # The tokenize stage reads the folder as it reads the file.
    from prep.tokenize.arrow_io import read_arrow
    for name in ("one.jsonl", "out"):
        ok(cli, "tokenize", "--input", tmp_path / name, "--output", tmp_path / f"{name}.arrow",
           "--tokenizer-path", tokenizers_dir["bos_eos"], "--max-length", 2048)
    arrows = [read_arrow(str(tmp_path / f"{name}.arrow")) for name in ("one.jsonl", "out")]
    assert arrows[0]["input_ids"] == arrows[1]["input_ids"] and len(arrows[0]) > 100

