"""The contracts every stage shares: atomic outputs, sidecars, and surviving a SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prep.core.stage import Stage, sidecar

ROOT = Path(__file__).resolve().parents[1]


def test_sidecar_names():
    assert sidecar(Path("d/x.jsonl"), ".stats.json") == Path("d/x.jsonl.stats.json")
    assert sidecar(Path("d/train.arrow"), ".rejected.jsonl") == Path("d/train.arrow.rejected.jsonl")
    # split's train.jsonl and tokenize's train.arrow in one folder keep their own sidecars.
    assert sidecar(Path("d/train.arrow"), ".stats.json") != sidecar(Path("d/train.jsonl"), ".stats.json")


def test_failed_stage_leaves_old_output_untouched(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("previous complete output\n")
    with pytest.raises(ValueError):
        with Stage("t", out, {}) as stage:
            stage.read()
            stage.keep({"id": 1})
            raise ValueError("boom")
    assert out.read_text() == "previous complete output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_unbalanced_counts_are_a_bug_not_a_silent_loss(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError, match="lost or counted twice"):
        with Stage("t", out, {}) as stage:
            stage.read(2)
            stage.keep({"id": 1})
    assert not out.exists()


def test_sigkill_mid_run_leaves_nothing_complete_and_rerun_finishes(tmp_path):
    src = tmp_path / "big.jsonl"
    with open(src, "w") as fh:
        for i in range(120_000):
            fh.write(json.dumps({"id": i, "text": f"record {i} with a few words of text"}) + "\n")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "train.cli", "prep", "clean", "--input", str(src), "--output", str(out),
           "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    # Kill once the stage is visibly writing its temporary output.
    while time.time() < deadline and not any(p.name.startswith(".out.jsonl.tmp") for p in tmp_path.iterdir()):
        time.sleep(0.01)
    time.sleep(0.2)
    assert proc.poll() is None, "stage finished before it could be killed; make the input larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    names = {p.name for p in tmp_path.iterdir()}
    assert "out.jsonl" not in names and "out.jsonl.stats.json" not in names
    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    stats = json.loads((tmp_path / "out.jsonl.stats.json").read_text())
    assert stats["read"] == stats["kept"] == 120_000
    assert sum(1 for _ in open(out)) == 120_000


def test_folder_input_skips_sidecars_and_temporaries(tmp_path):
    from prep.core.records import input_files
    for name in ["a.jsonl", "a.stats.json", "a.rejected.jsonl", ".a.jsonl.tmp-12", "b.json"]:
        (tmp_path / name).write_text("{}\n")
    assert [p.name for p in input_files(tmp_path)] == ["a.jsonl", "b.json"]
    assert [p.name for p in input_files(str(tmp_path / "*.json*"))] == ["a.jsonl", "b.json"]
    assert [p.name for p in input_files(tmp_path / "a.stats.json")] == ["a.stats.json"]


def test_atomic_file_commits_on_success_and_drops_on_error(tmp_path):
    from prep.core.atomic import AtomicFile
    target = tmp_path / "sub" / "x.json"
    with AtomicFile(target) as out:
        out.handle.write("new\n")
    assert target.read_text() == "new\n"
    with pytest.raises(KeyError):
        with AtomicFile(target) as out:
            out.handle.write("half")
            raise KeyError("boom")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]


def test_a_stage_that_keeps_nothing_fails_but_shows_why(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": "As an AI language model, I cannot do that."}) + "\n"
                           for i in range(3)))
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "clean", "--input", src, "--output", out, "--quiet")
    assert code == 2
    assert "kept 0 of 3" in err and "refusal" in err and "out.jsonl.rejected.jsonl" in err
    # The rejects say why, with the file and line of each record.
    rejects = [json.loads(line) for line in (tmp_path / "out.jsonl.rejected.jsonl").read_text().splitlines()]
    assert [r["where"] for r in rejects] == [f"{src}:{n}" for n in (1, 2, 3)]


def test_one_reason_dropping_most_records_is_named(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    with Stage("t", out, {}) as stage:
        stage.read(3)
        stage.keep({"id": 0})
        stage.drop({"id": 1}, "too-short", "2 words < 5", where="in.jsonl:2")
        stage.drop({"id": 2}, "too-short", "1 words < 5", where="in.jsonl:3")
    err = capsys.readouterr().err
    assert "2 of 3 records dropped as 'too-short'" in err and "in.jsonl:2: 2 words < 5" in err
