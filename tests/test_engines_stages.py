"""split and extract (html, csv, sql) on every engine: the same outputs, rejects and stats.

Inputs are real: the instruction, code and web records of tests/data resampled under fresh ids
(with broken lines) for split, the pages of tests/data/html (with a binary file, a page without
text and one over the size limit among them) for extract html, the SST-2 rows and the Chinook
dump for csv and sql. Ray runs only where no interface but loopback is up (as test_engines.py).
"""
import json
import shutil
from pathlib import Path

import pytest
from ray_cluster import run_in_windows
from test_engines import UNSHARED, ray_skip_reason, sample

import prep.split
from prep.core import engine
from prep.core.records import read_records
from prep.core.stage import not_text
from prep.extract.html import stage as html_stage
from prep.split import assign, group_key
from train.cli import main

DATA = Path(__file__).parent / "data"
SIDES = ("train", "val", "test")


def written(out: Path, others: tuple[Path, ...] = ()) -> dict:
    """Every file a run wrote, as bytes (the stats less UNSHARED, as JSON)."""
    stats = json.loads(out.with_name(out.name + ".stats.json").read_text(encoding="utf-8"))
    return {"outputs": [p.read_bytes() for p in (out, *others)],
            "rejects": out.with_name(out.name + ".rejected.jsonl").read_bytes(),
            "stats": {k: v for k, v in stats.items() if k not in UNSHARED}}


def split_argv(src: Path, folder: Path, *flags) -> list[str]:
    return ["prep", "split", "--input", str(src), "--split_ratio", "0.8,0.1,0.1", "--quiet",
            *(f for side in SIDES for f in (f"--{side}-output", str(folder / f"{side}.jsonl"))), *flags]


def split(src: Path, folder: Path, *flags) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    assert main(split_argv(src, folder, *flags)) == 0
    return written(folder / "train.jsonl", (folder / "val.jsonl", folder / "test.jsonl"))


def in_subprocess(argv: list[str], window: int, head) -> None:
    """A CLI run in a process of its own (Ray leaves threads and handlers behind), joining the
    session's Ray cluster ``head`` (tests/ray_cluster.py)."""
    done = run_in_windows([*argv, "--ray-address", head.address], window, head.driver_env())
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def split_input(tmp_path_factory):
    """2,000 real records with broken lines, a quarter of them in groups of meta.dup_group."""
    folder = tmp_path_factory.mktemp("split")
    src, broken = sample(folder / "raw.jsonl", 2000, seed=11)
    lines = src.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if n % 4 == 0 and line.endswith("}") and line.startswith("{"):
            record = json.loads(line)
            if isinstance(record, dict) and "meta" not in record:
                record["meta"] = {"dup_group": f"g{n % 40}"}
                lines[n] = json.dumps(record, ensure_ascii=False)
    src = folder / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src, broken, split(src, folder / "one", "--group-key", "meta.dup_group", "--workers", "1")


def test_split_on_one_process_places_records_as_the_group_hash_says(split_input):
    src, broken, one = split_input
    stats = one["stats"]
    assert stats["read"] == 2000 and stats["errors"] == broken > 0 and stats["kept"] == 2000 - broken
    good = [item.record for item in read_records(src) if item.error is None and not_text(item.record) is None]
    missing: list = []
    keys = [group_key(r, "meta.dup_group", missing) for r in good]
    expected = {side: [] for side in SIDES}
    for record, side in zip(good, assign(keys, [0.8, 0.1, 0.1], 42)):
        expected[side].append(record["id"])
    got = {side: [json.loads(line)["id"] for line in data.decode().splitlines()]
           for side, data in zip(SIDES, one["outputs"])}
    assert got == expected   # the engine's digests place records as the in-memory rule does
    assert stats["counts"] == {side: len(ids) for side, ids in got.items()} and stats["group_key_missing"] == len(missing)
    assert 150 < stats["counts"]["val"] < 250 and stats["groups"] < len(good)


def test_split_on_pools_writes_the_same_files(split_input, tmp_path, monkeypatch):
    src, _, one = split_input
    assert split(src, tmp_path / "two", "--group-key", "meta.dup_group", "--workers", "2") == one
    monkeypatch.setattr(engine, "BATCH_RECORDS", 16)   # many batches in flight, broken lines among them
    assert split(src, tmp_path / "three", "--group-key", "meta.dup_group", "--workers", "3") == one


def test_split_refuses_an_input_that_changed_between_its_passes(split_input, tmp_path, monkeypatch, cli):
    src, _, _ = split_input
    reads = []
    real = prep.split.read_records

    def shorter_the_second_time(*args):
        reads.append(1)
        items = list(real(*args))
        return items if len(reads) == 1 else items[:-5]

    monkeypatch.setattr(prep.split, "read_records", shorter_the_second_time)
    code, _, err = cli(*split_argv(src, tmp_path))
    assert code == 2 and "fewer records than when it was first read" in err and len(reads) == 2
    assert not (tmp_path / "train.jsonl").exists() and not (tmp_path / "val.jsonl").exists()


@pytest.mark.slow
@pytest.mark.skipif(ray_skip_reason() is not None, reason=str(ray_skip_reason()))
def test_split_on_ray_writes_the_same_files(split_input, tmp_path, ray_head):
    src, _, one = split_input
    in_subprocess(split_argv(src, tmp_path, "--group-key", "meta.dup_group", "--engine", "ray", "--workers", "2"),
                  window=500, head=ray_head)
    assert written(tmp_path / "train.jsonl", (tmp_path / "val.jsonl", tmp_path / "test.jsonl")) == one


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real pages, a binary file, a page without text, and the largest page over the limit."""
    folder = tmp_path_factory.mktemp("site")
    pages = folder / "pages"
    shutil.copytree(DATA / "html" / "pages", pages / "real")
    (pages / "a-binary.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (pages / "b-empty.htm").write_text("<html><script>x()</script><nav><a>Home</a></nav></html>")
    return pages


def extract_html(pages: Path, out: Path, *flags) -> dict:
    assert main(["prep", "extract", "html", "--input", str(pages), "--output", str(out), "--quiet",
                 "--max-page-bytes", "60000", *flags]) == 0
    return written(out)


def test_extract_html_on_two_workers_writes_the_same_files(site, tmp_path, monkeypatch):
    monkeypatch.setattr(html_stage, "PAGES_PER_BATCH", 2)   # pages of one batch and the next on each worker
    one = extract_html(site, tmp_path / "one.jsonl", "--workers", "1")
    stats = one["stats"]
    assert (stats["read"], stats["kept"], stats["errors"]) == (17, 14, 1)
    assert stats["dropped"] == {"empty": 1, "too_large": 1} and sum(stats["extractors"].values()) == 14
    assert sum(stats["encodings"].values()) == 15   # every page parsed, the empty one included
    rejects = [json.loads(line) for line in one["rejects"].decode().splitlines()]
    assert [r["reason"] for r in rejects] == ["error", "empty", "too_large"]   # in the pages' order
    assert rejects[0]["where"].endswith("a-binary.html") and rejects[2]["record"]["meta"]["bytes"] > 60000
    assert extract_html(site, tmp_path / "two.jsonl", "--workers", "2") == one


@pytest.mark.slow
@pytest.mark.skipif(ray_skip_reason() is not None, reason=str(ray_skip_reason()))
def test_extract_html_on_ray_writes_the_same_files(site, tmp_path, ray_head):
    one = extract_html(site, tmp_path / "one.jsonl")
    out = tmp_path / "ray.jsonl"
    in_subprocess(["prep", "extract", "html", "--input", str(site), "--output", str(out), "--quiet",
                   "--max-page-bytes", "60000", "--engine", "ray", "--workers", "2"], window=5, head=ray_head)
    assert written(out) == one


SERIAL = {
    "csv": ["--input", str(DATA / "labelled_text" / "sst2" / "dev.tsv"), "--delimiter", "tab",
            "--text-column", "text", "--label-column", "label"],
    "sql": ["--input", str(DATA / "sql" / "chinook-mysql-data-excerpt.sql"), "--table", "artist",
            "--text-column", "Name", "--id-column", "ArtistId"],
}


@pytest.mark.parametrize("source", SERIAL)
def test_csv_and_sql_take_the_engine_flags_and_write_the_same_files(cli, tmp_path, source):
    runs = {}
    for name, flags in {"one": [], "two": ["--workers", "2"], "ray": ["--engine", "ray"]}.items():
        out = tmp_path / f"{name}.jsonl"
        code, _, err = cli("prep", "extract", source, *SERIAL[source], "--output", out, *flags)
        assert code == 0, err
        assert ("converted in this process" in err) == bool(flags)   # said, never silently ignored
        runs[name] = written(out)
    assert runs["one"]["stats"]["kept"] > 10
    assert runs["two"] == runs["one"] == runs["ray"]
    code, _, err = cli("prep", "extract", source, *SERIAL[source], "--output", tmp_path / "x.jsonl",
                       "--ray-address", "auto")
    assert code == 2 and "needs --engine ray" in err and not (tmp_path / "x.jsonl").exists()
