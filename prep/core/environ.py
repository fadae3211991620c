"""Environment variables changed for a while and put back as they were.

Stages set variables that libraries read (TOKENIZERS_PARALLELISM for the tokenizer's threads,
Ray's local-cluster switches) and the pipeline sets a step's own ``env:``; in one process that
runs several stages (tests, `tunesmith pipeline`) each must leave the environment as it found it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def environ_kept(*names: str) -> Iterator[None]:
    """Whatever the body sets or removes among ``names`` is undone on leaving: each goes back to
    its value on entry, or is removed where it was unset."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
