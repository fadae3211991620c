"""Shared fixtures: a CLI runner, tiny tokenizers and a tiny Llama, all built in the test."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from tiny import make_llama, make_tokenizer  # noqa: E402


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip)


@pytest.fixture
def cli(capsys):
    """Run `tunesmith ARGS...` in process; returns (exit code, stdout, stderr)."""
    from train.cli import main

    def run(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.fixture(scope="session")
def tokenizers_dir(tmp_path_factory):
    """{flavour: directory} for every tiny tokenizer flavour, built once per session."""
    base = tmp_path_factory.mktemp("tokenizers")
    out = {}
    for flavour in ("bos_eos", "no_bos", "pad_eq_eos"):
        make_tokenizer(base / flavour, flavour)
        out[flavour] = base / flavour
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizers_dir):
    """A saved tiny Llama with the bos_eos tokenizer beside it."""
    from transformers import AutoTokenizer

    directory = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"])
    make_llama(directory, tok)
    return directory


@pytest.fixture(scope="session")
def ray_head():
    """One Ray head node on 127.0.0.1 (2 CPUs) for the session, started when a test first asks
    for it; its tests join it with ``--ray-address head.address`` and ``head.driver_env()``. At
    the end it must hold no job or actor of a driver that left, every CPU free, and nothing of it
    may outlive its stop."""
    from ray_cluster import RayHead, left_behind
    from test_engines import ray_skip_reason

    if ray_skip_reason() is not None:
        pytest.skip(ray_skip_reason())
    head = RayHead(cpus=2)
    head.start()
    try:
        yield head
        state = left_behind(head)
    finally:
        killed = head.stop()
    assert not state["jobs"] and not state["actors"] and state["free_cpus"] == state["cpus"], state
    assert not killed, f"still running after the head stopped: {killed}"
