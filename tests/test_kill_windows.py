"""A kill at each rename of a stage's files: what is left is never a new-looking output with the
wrong books unnoticed, and a rerun cleans up and finishes."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Runs a stage with os.replace wrapped so that the process kills itself just before rename N.
KILL_AT_RENAME = """
import os, signal, sys
from train.cli import main
limit, calls = int(sys.argv[1]), [0]
real = os.replace
def replace(a, b):
    calls[0] += 1
    if calls[0] == limit:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(a, b)
os.replace = replace
sys.exit(main(sys.argv[2:]))
"""


def run(*args, kill_at: int = 0):
    return subprocess.run([sys.executable, "-c", KILL_AT_RENAME, str(kill_at), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def write(path: Path, n: int) -> None:
    rows = [{"id": i, "text": f"record number {i} has a few words"} for i in range(n)]
    rows += [{"id": "r", "text": "As an AI language model, I cannot help with that."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kill_at", [1, 2, 3])   # the rejects, the stats, the output
def test_kill_at_each_rename(tmp_path, kill_at):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    stats = tmp_path / "out.jsonl.stats.json"
    write(src, 50)
    assert run("prep", "clean", "--input", src, "--output", out, "--quiet").returncode == 0
    old = sha(out)
    write(src, 80)  # the next run writes other contents
    killed = run("prep", "clean", "--input", src, "--output", out, "--quiet", kill_at=kill_at)
    assert killed.returncode == -9
    assert sha(out) == old  # the output is renamed last: it is the old one, whole
    books = json.loads(stats.read_text())
    if kill_at < 3:
        assert books["output_sha256"]["output"] == old  # the old run's books, still true
    else:
        # The killed run's stats beside the old output: they say so, and the next stage warns.
        assert books["output_sha256"]["output"] != old
        nxt = run("prep", "dedup", "--input", out, "--output", tmp_path / "d.jsonl", "--quiet")
        assert nxt.returncode == 0 and "describes another version" in nxt.stderr
        assert json.loads((tmp_path / "d.jsonl.stats.json").read_text())["stale_input_stats"] == [str(stats)]
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]  # the killed run's temporaries
    done = run("prep", "clean", "--input", src, "--output", out, "--quiet")
    assert done.returncode == 0
    assert sha(out) == json.loads(stats.read_text())["output_sha256"]["output"]
    assert json.loads(stats.read_text())["kept"] == 80
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]  # the killed run's temporaries are gone
