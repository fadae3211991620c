"""Batches of jobs to token ids and labels, in a thread or in worker processes, in input order.

The fast tokenizer's batch call (``tokenizer(texts, add_special_tokens=False)``) does the
heavy work; a supervised batch takes two calls (inputs, then outputs), so the boundary
between input and output is exact: the output is tokenized as it stands, exactly as the
model will produce it after a prompt tokenized alone at inference time. Nothing is put
between them: a data set that wants a newline or a role marker between the prompt and the
answer keeps it at the end of its input (the Pygmalion layout: the input ends with
"<|model|>").

With ``num_proc`` > 1 the batches go to worker processes (forked where the platform allows,
so the tokenizer is not pickled); with 1, to one thread of this process, so that reading and
writing overlap the tokenizer's work. Either way they come back in submission order, with a
bounded number in flight so memory stays flat: the output is the same bytes for any
``num_proc``.
"""
from __future__ import annotations

import os
from collections import Counter, deque
from typing import Iterable, Iterator

from prep.tokenize.chat import build_chat
from prep.tokenize.masking import Drop, build_supervised, build_text, detect_specials, text_document

# Batches in flight per worker: enough to keep every worker busy while the main process
# writes, few enough that memory does not grow with the input.
IN_FLIGHT_PER_WORKER = 3
# Texts on which the direct Rust call must give the ids of tokenizer(...) before it is trusted.
PROBES = ["Hello world", "", "  two leading spaces", "tabs\tand\nnewlines", "caf\u00e9 na\u00efve \u65e5\u672c"]
# The methods on the way from tokenizer(...) to the Rust call; a class that overrides one of
# them may change the text first, so it keeps its own path.
ENCODE_PATH = ("__call__", "_call_one", "_encode_plus", "_batch_encode_plus")


def can_call_backend(tokenizer) -> bool:
    """True where ``backend_tokenizer.encode_batch_fast`` gives the same ids as ``tokenizer(texts)``.

    That call skips the character offsets and the Python conversion of transformers' own
    path (about a quarter less CPU on the records of bench/tokenize_speed.py); the generic
    fast tokenizer class does nothing else before calling Rust, which the probes confirm.
    """
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import PreTrainedTokenizerFast

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not hasattr(backend, "encode_batch_fast"):
        return False
    if any(getattr(type(tokenizer), name, None) is not getattr(PreTrainedTokenizerFast, name, None)
           for name in ENCODE_PATH):
        return False
    probes = PROBES + [f"{t}{PROBES[0]}{t}" for t in tokenizer.all_special_tokens]
    # This call also leaves the backend without truncation or padding, as transformers sets it.
    expected = tokenizer(probes, add_special_tokens=False)["input_ids"]
    return [e.ids for e in backend.encode_batch_fast(probes, add_special_tokens=False)] == expected


class Encoder:
    """Turns jobs (see ``prep.core.shapes``) into ``(kind, input_ids, labels)`` or a ``Drop``."""

    def __init__(self, tokenizer, config):
        self.tokenizer = tokenizer
        self.config = config
        self.specials = detect_specials(tokenizer)
        self.direct = can_call_backend(tokenizer)

    def _ids(self, texts: list[str]) -> list[list[int]]:
        if self.direct:
            return [e.ids for e in self.tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def _ends(self, text: str) -> str:
        """Drops whitespace after a final EOS written in the text ("...</s>\\n"), which would
        hide that EOS from the check that keeps it from being doubled."""
        eos = self.tokenizer.eos_token
        stripped = text.rstrip()
        return stripped if eos and stripped != text and stripped.endswith(eos) else text

    def _text(self, jobs, counters):
        ids = self._ids([self._ends(j[1]) for j in jobs])
        if self.config.pack:
            docs = [text_document(i, self.specials, counters) for i in ids]
            return [d if isinstance(d, Drop) else ("doc", d, None) for d in docs]
        built = [build_text(i, self.specials, self.config, counters) for i in ids]
        return [b if isinstance(b, Drop) else ("text", *b) for b in built]

    def _supervised(self, jobs, counters):
        inputs = self._ids([j[1] for j in jobs])
        outputs = self._ids([self._ends(j[2]) for j in jobs])
        built = [build_supervised(i, o, self.specials, self.config, counters) for i, o in zip(inputs, outputs)]
        return [b if isinstance(b, Drop) else ("supervised", *b) for b in built]

    def _chat(self, jobs, counters):
        built = [build_chat(j[1], self.tokenizer, self.specials, self.config, counters) for j in jobs]
        return [b if isinstance(b, Drop) else ("chat", *b) for b in built]

    def encode(self, jobs: list[tuple]) -> tuple[list, Counter]:
        """One result per job, in order, and the counts (truncations...) of this batch."""
        counters: Counter = Counter()
        results: list = [None] * len(jobs)
        groups: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            groups.setdefault(job[0], []).append(index)
        builders = {"text": self._text, "supervised": self._supervised, "chat": self._chat}
        for name, indexes in groups.items():
            for index, result in zip(indexes, builders[name]([jobs[i] for i in indexes], counters)):
                results[index] = result
        return results, counters


_WORKER: Encoder | None = None


def _start_worker(encoder: Encoder) -> None:
    global _WORKER
    # One process per core already: the tokenizer's own thread pool would oversubscribe.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER = encoder


def _encode_in_worker(jobs):
    return _WORKER.encode(jobs)


def _context():
    # multiprocessing: imported here to keep it off the CLI's start-up path
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _in_order(submit, batches: Iterable[tuple[list, list]], window: int) -> Iterator:
    """Submits up to ``window`` batches ahead and yields their results in submission order."""
    pending: deque = deque()
    for items, jobs in batches:
        pending.append((items, submit(jobs)))
        if len(pending) >= window:
            items, result = pending.popleft()
            yield (items, *result())
    while pending:
        items, result = pending.popleft()
        yield (items, *result())


def encode_batches(encoder: Encoder, batches: Iterable[tuple[list, list]], num_proc: int = 1) -> Iterator:
    """For each ``(items, jobs)``: ``(items, results, counters)``, in the order given.

    ``items`` stays in this process (the records, for the rejects file); only the jobs
    travel to the workers. With ``num_proc`` 1 one thread of this process encodes the next
    batch while the caller reads and writes: the Rust tokenizer releases the GIL and spreads
    each batch over the cores itself.
    """
    if num_proc <= 1:
        # concurrent: imported here to keep it off the CLI's start-up path
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as thread:
            yield from _in_order(lambda jobs: thread.submit(encoder.encode, jobs).result, batches, window=2)
        return
    with _context().Pool(num_proc, initializer=_start_worker, initargs=(encoder,)) as pool:
        yield from _in_order(lambda jobs: pool.apply_async(_encode_in_worker, (jobs,)).get, batches,
                             window=num_proc * IN_FLIGHT_PER_WORKER)
