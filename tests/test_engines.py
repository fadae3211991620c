"""clean and filter on every engine: the same output, rejects (file:line included) and stats.

The input resamples the real records of tests/data (instruction sets in every layout, code
answers, labelled web text) under fresh ids, with broken lines among them, so that drops,
errors and kept records interleave across many batches.
"""
import argparse
import fcntl
import json
import os
import random
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from ray_cluster import run_in_windows

from prep.core import engine
from prep.core.records import read_records
from train.cli import main

DATA = Path(__file__).parent / "data"
SOURCES = [*sorted((DATA / "layouts").glob("*.json*")), *sorted((DATA / "code").glob("*.jsonl")),
           DATA / "filters" / "quality" / "records.jsonl"]
# clean with its defaults; filter with the language check on, so that the counters a worker keeps
# (languages, exempt code, personal data found) have something to sum.
STAGES = {"clean": [], "filter": ["--lang", "en"]}
# What may differ between two runs of one stage: the time taken, the flags, the output's name.
UNSHARED = ("seconds", "options", "outputs")
# linux/sockios.h and linux/if.h: read an interface's flags; the "up" flag.
SIOCGIFFLAGS, IFF_UP = 0x8913, 0x1


def resampled(sources: list[Path], records: int, seed: int, prefix: str):
    """(n, rng, the n-th record, it as a JSON line): ``records`` real records of ``sources`` drawn with
    replacement under fresh ids PREFIX{seed}-{n}; ``rng`` is the draw's own, for the caller's breakage."""
    pool = [item.record for source in sources for item in read_records(source) if item.error is None]
    rng = random.Random(seed)
    for n in range(records):
        record = {"id": f"{prefix}{seed}-{n}", **{k: v for k, v in rng.choice(pool).items() if k != "id"}}
        yield n, rng, record, json.dumps(record, ensure_ascii=False)


def sample(path: Path, records: int, seed: int) -> tuple[Path, int]:
    """``records`` real records drawn with replacement under fresh ids, a broken line (a cut
    record, a JSON array, a number where text belongs) every ~300; (path, broken lines)."""
    lines, broken = [], 0
    for n, rng, record, line in resampled(SOURCES, records, seed, "s"):
        if rng.random() < 1 / 300:
            line = rng.choice([line[: len(line) // 2], json.dumps([record]),
                               json.dumps({"id": record["id"], "text": n})])
            broken += 1
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, broken


def ran(out: Path) -> dict:
    """What a run wrote: the output and rejects as bytes, the stats without UNSHARED keys."""
    stats = json.loads(out.with_name(out.name + ".stats.json").read_text(encoding="utf-8"))
    return {"output": out.read_bytes(), "rejects": out.with_name(out.name + ".rejected.jsonl").read_bytes(),
            "stats": {k: v for k, v in stats.items() if k not in UNSHARED}}


def run_stage(stage: str, src: Path, out: Path, *flags) -> dict:
    assert main(["prep", stage, "--input", str(src), "--output", str(out), "--quiet",
                 *STAGES[stage], *flags]) == 0
    return ran(out)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """3,000 records and the single-process result of each stage on them."""
    folder = tmp_path_factory.mktemp("engines")
    src, broken = sample(folder / "in.jsonl", 3000, seed=1)
    return src, broken, {stage: run_stage(stage, src, folder / f"{stage}-1.jsonl") for stage in STAGES}


@pytest.mark.slow
def test_one_process_reads_counts_and_places_every_record(big):
    src, broken, single = big
    for stage, result in single.items():
        stats = result["stats"]
        assert stats["read"] == 3000 and stats["errors"] == broken > 0
        assert stats["kept"] > 2000 and sum(stats["dropped"].values()) > 50, stage
        rejects = [json.loads(line) for line in result["rejects"].decode().splitlines()]
        lines = src.read_text(encoding="utf-8").splitlines()
        wheres = [int(r["where"].rsplit(":", 1)[1]) for r in rejects]
        assert wheres == sorted(wheres)   # drops and errors interleave in input order
        for item in rejects:
            if item["reason"] != "error":   # a dropped record is the input line's record
                assert json.loads(lines[int(item["where"].rsplit(":", 1)[1]) - 1])["id"] == item["record"]["id"]
    filtered = single["filter"]["stats"]
    assert filtered["filter"]["languages"]["en"] > 1000 and filtered["filter"]["exempt_code"] > 10
    assert sum(filtered["pii_found"].values()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_two_local_workers_write_the_same_files(big, tmp_path, stage):
    src, _, single = big
    assert run_stage(stage, src, tmp_path / "out.jsonl", "--workers", "2") == single[stage]


def test_a_pool_with_small_batches_matches_one_process(tmp_path, monkeypatch):
    # 300 records in batches of 16: many batches in flight, broken lines among them.
    src, broken = sample(tmp_path / "in.jsonl", 300, seed=4)
    monkeypatch.setattr(engine, "BATCH_RECORDS", 16)
    for stage in STAGES:
        one = run_stage(stage, src, tmp_path / f"{stage}-1.jsonl", "--workers", "1")
        assert one["stats"]["errors"] == broken > 0
        assert run_stage(stage, src, tmp_path / f"{stage}-3.jsonl", "--workers", "3") == one


def test_a_failing_worker_stops_the_stage_and_leaves_no_output(tmp_path, monkeypatch):
    # A bug in the per-record work (not bad input): it reaches the main process as the error it
    # is, the pool stops, and no file that looks complete is left.
    import prep.clean

    def broken(record, min_words, max_words):
        raise ValueError(f"bug at {record['id']}")

    monkeypatch.setattr(prep.clean, "check_length", broken)   # forked workers inherit it
    src, _ = sample(tmp_path / "in.jsonl", 300, seed=5)
    out = tmp_path / "out" / "clean.jsonl"
    with pytest.raises(ValueError, match="bug at"):
        main(["prep", "clean", "--input", str(src), "--output", str(out), "--quiet", "--workers", "2"])
    assert list(out.parent.iterdir()) == []


def test_batches_carry_broken_items_and_stay_bounded():
    reads = list(read_records(DATA / "layouts" / "dolly.jsonl"))
    bad = [type(reads[0])(None, "x:1", "invalid JSON")] * 50
    chunks = list(engine.batches([*reads, *bad, *reads], size=4))
    assert [item for chunk, _ in chunks for item in chunk] == [*reads, *bad, *reads]
    assert all(len(good) <= 4 and len(chunk) <= 16 for chunk, good in chunks)
    assert sum(len(good) for _, good in chunks) == 2 * len(reads)


def test_zero_workers_means_every_usable_core():
    from prep.core.threads import cpu_quota

    cores = len(os.sched_getaffinity(0))
    expected = cores if cpu_quota() is None else min(cores, cpu_quota())
    assert engine.worker_count(argparse.Namespace(workers=0)) == expected
    assert engine.worker_count(argparse.Namespace(workers=None)) == 1
    assert engine.worker_count(argparse.Namespace(workers=3)) == 3


def test_engine_flags_are_checked_before_anything_is_written(tmp_path, cli, monkeypatch):
    src, _ = sample(tmp_path / "in.jsonl", 20, seed=3)
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "clean", "--input", src, "--output", out, "--ray-address", "auto")
    assert code == 2 and "needs --engine ray" in err and not out.exists()
    code, _, err = cli("prep", "clean", "--input", src, "--output", out, "--workers", "-1")
    assert code == 2 and "--workers" in err
    monkeypatch.setitem(sys.modules, "ray", None)   # as where the ray extra is not installed
    code, _, err = cli("prep", "filter", "--input", src, "--output", out, "--engine", "ray")
    assert code == 2 and "tunesmith[ray]" in err and not out.exists()


def outside_interfaces() -> list[str]:
    """Network interfaces of this process's network namespace, other than loopback, that are up.

    Asked of the kernel (SIOCGIFFLAGS), not read from /sys/class/net, which shows the interfaces
    of the namespace it was mounted in.
    """
    up = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:   # no traffic: a handle for ioctl
        for _, name in socket.if_nameindex():
            request = struct.pack("16sH14x", name.encode()[:15], 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
            if name != "lo" and flags & IFF_UP:
                up.append(name)
    return up


def ray_skip_reason() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'tunesmith[ray]')"
    if outside_interfaces():
        return (f"interfaces {', '.join(outside_interfaces())} are up: a local Ray cluster must run "
                "with loopback only; run pytest under tests/loopback_only.sh (make test does)")
    return None


@pytest.mark.slow
@pytest.mark.skipif(ray_skip_reason() is not None, reason=str(ray_skip_reason()))
@pytest.mark.parametrize("stage", STAGES)
def test_ray_writes_the_same_files(big, tmp_path, stage, request):
    # A process of its own (Ray leaves threads and handlers behind), windows of 1,000 records so
    # that verdicts and counters come back across several Ray datasets. clean starts and stops a
    # local cluster of its own (the only test that does); filter joins the session's cluster.
    src, _, single = big
    out = tmp_path / "out.jsonl"
    argv = ["prep", stage, "--input", str(src), "--output", str(out), "--quiet", *STAGES[stage],
            "--engine", "ray", "--workers", "2"]
    if stage == "clean":
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    else:
        head = request.getfixturevalue("ray_head")
        argv, env = [*argv, "--ray-address", head.address], head.driver_env()
    done = run_in_windows(argv, 1000, env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ran(out) == single[stage]


# tokenize and extract jsonl: the real instruction and code records alone (every layout, chats
# among them), short examples so that truncations and drops happen in many batches.
TOKENIZE_SOURCES = [*sorted((DATA / "layouts").glob("*.json*")), *sorted((DATA / "code").glob("*.jsonl"))]


def tokenize_sample(path: Path, records: int, seed: int) -> tuple[Path, int]:
    lines, broken = [], 0
    for n, _, _, line in resampled(TOKENIZE_SOURCES, records, seed, "t"):
        if n % 97 == 50:   # a cut line: counted as an error between kept records
            line, broken = line[: len(line) // 2], broken + 1
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, broken


def tokenized(src: Path, out: Path, tokenizer: Path, *flags) -> dict:
    """What a tokenize run wrote: the Arrow bytes, the rejects and the stats (less UNSHARED)."""
    assert main(["prep", "tokenize", "--input", str(src), "--output", str(out), "--quiet", "--tokenizer-path",
                 str(tokenizer), "--max-length", "384", "--batch-size", "16", *flags]) == 0
    return ran(out)


@pytest.mark.parametrize("pack", [["--prompt-format", "alpaca"], ["--pack", "--mode", "text"]],
                         ids=["examples", "packed"])
def test_tokenize_on_two_workers_writes_the_same_arrow_file(tmp_path, tokenizers_dir, pack):
    src, broken = tokenize_sample(tmp_path / "in.jsonl", 400, seed=6)
    tokenizer = tokenizers_dir["bos_eos"]
    one = tokenized(src, tmp_path / "one.arrow", tokenizer, "--workers", "1", *pack)
    stats = one["stats"]
    assert stats["read"] == 400 and stats["errors"] == broken > 0 and stats["examples"] > 150
    if "--pack" in pack:
        assert stats["packed_documents"] == stats["kept"] and stats["pack_last_block_tokens"] > 0
    else:
        assert stats["truncated_input"] > 0   # counted in the workers, summed in the main process
        assert sum(stats["dropped"].values()) > 0   # answers longer than 384 tokens
    assert tokenized(src, tmp_path / "two.arrow", tokenizer, "--workers", "2", *pack) == one
    assert tokenized(src, tmp_path / "old.arrow", tokenizer, "--num-proc", "2", *pack) == one


def test_tokenize_rows_are_the_library_encoding(tmp_path, tokenizers_dir):
    # The payload a worker sends back decodes to the very ids and labels encode_records gives.
    import pyarrow as pa

    from prep.tokenize.encode import TokenizeConfig, encode_records, load_tokenizer

    src, _ = tokenize_sample(tmp_path / "in.jsonl", 120, seed=7)
    tokenized(src, tmp_path / "out.arrow", tokenizers_dir["no_bos"], "--workers", "2")
    table = pa.ipc.open_stream(pa.memory_map(str(tmp_path / "out.arrow"))).read_all()
    records = [item.record for item in read_records(src) if item.error is None]
    expected = list(encode_records(records, load_tokenizer(tokenizers_dir["no_bos"]), TokenizeConfig(max_length=384)))
    assert table.column("input_ids").to_pylist() == [e["input_ids"] for e in expected]
    assert table.column("labels").to_pylist() == [e["labels"] for e in expected]


def test_tokenize_loads_the_tokenizer_once_per_process(tmp_path, tokenizers_dir, monkeypatch):
    import prep.tokenize.work as tokenize_work

    loads = []
    real = tokenize_work.load_tokenizer
    monkeypatch.setattr(tokenize_work, "load_tokenizer", lambda *a: loads.append(a) or real(*a))
    monkeypatch.setattr(tokenize_work, "_loaded", {})
    src, _ = tokenize_sample(tmp_path / "in.jsonl", 200, seed=8)
    tokenized(src, tmp_path / "out.arrow", tokenizers_dir["bos_eos"], "--workers", "1")   # 13 batches
    assert len(loads) == 1


def test_extract_jsonl_on_three_workers_matches_one_process(tmp_path, monkeypatch):
    src, broken = sample(tmp_path / "in.jsonl", 400, seed=9)
    monkeypatch.setattr(engine, "BATCH_RECORDS", 16)
    runs = []
    for workers in ("1", "3"):
        out = tmp_path / f"extract-{workers}.jsonl"
        assert main(["prep", "extract", "jsonl", "--input", str(src), "--output", str(out), "--quiet",
                     "--workers", workers]) == 0
        runs.append(ran(out))
    stats = runs[0]["stats"]
    # A number where text belongs is a drop here (the layout says why), not a read error.
    assert stats["kept"] > 300 and stats["errors"] > 0 and sum(stats["dropped"].values()) > 0
    assert sum(stats["shapes"].values()) >= stats["kept"] and list(stats["shapes"]) == sorted(stats["shapes"])
    assert runs[1] == runs[0]


@pytest.mark.slow
@pytest.mark.skipif(ray_skip_reason() is not None, reason=str(ray_skip_reason()))
def test_ray_tokenizes_to_the_same_arrow_file(tmp_path, tokenizers_dir, ray_head):
    src, _ = tokenize_sample(tmp_path / "in.jsonl", 400, seed=6)
    one = tokenized(src, tmp_path / "one.arrow", tokenizers_dir["bos_eos"], "--workers", "1")
    out = tmp_path / "ray.arrow"
    argv = ["prep", "tokenize", "--input", str(src), "--output", str(out), "--quiet", "--tokenizer-path",
            str(tokenizers_dir["bos_eos"]), "--max-length", "384", "--batch-size", "16", "--engine", "ray",
            "--workers", "2", "--ray-address", ray_head.address]
    done = run_in_windows(argv, 100, ray_head.driver_env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert ran(out) == one


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_setup_error_in_a_tokenize_worker_is_the_stage_error(tmp_path, tokenizers_dir, cli, workers):
    # Chats reach a tokenizer without a chat template inside a worker: the main process reports
    # it as the one-line setup error (status 2), not a traceback, and leaves no output.
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(tokenizers_dir["bos_eos"], plain)
    (plain / "chat_template.jinja").unlink()
    src, _ = tokenize_sample(tmp_path / "in.jsonl", 100, seed=10)
    out = tmp_path / "out" / "chat.arrow"
    code, _, err = cli("prep", "tokenize", "--input", src, "--output", out, "--tokenizer-path", plain,
                       "--batch-size", "8", "--workers", workers, "--quiet")
    assert code == 2 and "need a chat template" in err and "Traceback" not in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


# A judge whose setting is wrong only where a worker builds it (a file missing on a cluster node):
# the main process builds the judge first and passes, the workers fail.
WORKER_SETUP_ERROR = """
import os, sys
from prep.core.engine_ray import ray_engine
from prep.core.errors import StageError, exit_code
from prep.core.work import Work
MAIN = os.getpid()

def factory(path):
    if os.getpid() != MAIN:
        raise StageError(f"--model {path}: no such file on this node")
    return lambda records: ([(record, None, None) for record in records], {})

def run():
    with ray_engine(Work(factory, "judge.bin"), 2, None, True) as judged:
        for _ in judged([([], [{"id": n}]) for n in range(4)]):
            pass

sys.exit(exit_code(run))
"""


@pytest.mark.slow
@pytest.mark.skipif(ray_skip_reason() is not None, reason=str(ray_skip_reason()))
def test_a_setup_error_in_a_ray_worker_is_the_stage_error(ray_head):
    # As with the local engine: status 2 and the error's one line, not Ray's wrapped traceback.
    # No address is passed: the engine joins the cluster RAY_ADDRESS names.
    done = subprocess.run([sys.executable, "-c", WORKER_SETUP_ERROR], capture_output=True, text=True,
                          timeout=300, env={**ray_head.driver_env(), "RAY_ADDRESS": ray_head.address})
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().splitlines() == ["tunesmith: error: --model judge.bin: no such file on this node"]
