"""The eval side indexed and the training side judged batch by batch, for prep/filter/decontaminate.py."""
from __future__ import annotations

import numpy as np

from prep.core.errors import StageError
from prep.core.records import input_files, read_records
from prep.filter.ngrams import EvalIndex, field_words, record_id

# A batch of training records is judged at once; it closes at this many words (normalised,
# about 60 bytes each while held: the bytes object, its value, list slots), which bounds memory
# whatever the record sizes, or at BATCH_RECORDS records.
BATCH_WORDS = 1 << 18
BATCH_RECORDS = 2048


class EvalSet:
    """The eval records behind an index: where each came from, and the counts per eval file."""

    def __init__(self, index: EvalIndex, files: list[str]):
        self.index, self.files = index, files
        self.where: list[str] = []
        self.ids: list[str | None] = []
        self.file_of: list[int] = []
        self.counts = [dict(records=0, too_short=0, whole_fields=0) for _ in files]
        self.matched_training = np.zeros(len(files), dtype=np.int64)
        self.hit: np.ndarray | None = None

    def add(self, file_no: int, where: str, record: dict) -> None:
        indexed, whole = self.index.add(field_words(record))
        self.where.append(where)
        self.ids.append(record_id(record))
        self.file_of.append(file_no)
        counts = self.counts[file_no]
        counts["records"] += 1
        counts["too_short"] += indexed == 0
        counts["whole_fields"] += whole

    def finish(self, ignore_common: int) -> None:
        self.index.finish(ignore_common)
        self.file_of = np.array(self.file_of, dtype=np.int32)
        self.hit = np.zeros(self.index.records, dtype=bool)

    def summary(self, sha256: dict[str, str]) -> dict:
        ngrams = np.bincount(self.file_of[self.index.owners], minlength=len(self.files))
        common = np.bincount(self.file_of[self.index.common_owners], minlength=len(self.files))
        hit = np.bincount(self.file_of[self.hit], minlength=len(self.files))
        out = {}
        for no, name in enumerate(self.files):
            counts = self.counts[no]
            out[name] = {**counts, "ngrams": int(ngrams[no]), "common_ngrams": int(common[no]),
                         "matched_training": int(self.matched_training[no]),
                         "contaminated": int(hit[no]),
                         "contaminated_share": round(int(hit[no]) / max(counts["records"], 1), 4),
                         "sha256": sha256[name]}
        return out


def eval_files(specs: list[str]) -> list[str]:
    files: list[str] = []
    for spec in specs:
        try:
            found = input_files(spec)
        except StageError as exc:
            raise StageError(f"--against {exc}") from None
        files += [str(p) for p in found if str(p) not in files]
    return files


def load_eval(specs: list[str], n: int, min_words: int, ignore_common: int) -> EvalSet:
    """Index every eval record; a broken eval line or an eval set with nothing to match stops the run."""
    files = eval_files(specs)
    evals = EvalSet(EvalIndex(n, min_words), files)
    for no, name in enumerate(files):
        for item in read_records(name):
            if item.error is not None:
                raise StageError(f"--against {item.where}: {item.error}; fix or remove the line "
                                 "(a smaller eval set would report less contamination than there is)")
            evals.add(no, item.where, item.record)
    evals.finish(ignore_common)
    if not len(evals.index.keys):
        raise StageError(f"--against {', '.join(files)}: {evals.index.records} records, none with a field of "
                         f"at least --min-words {min_words} words left to match (--ignore-common "
                         f"{ignore_common} left out {len(evals.index.common_owners)} n-grams)")
    return evals


class Batch:
    """Training records read but not yet judged, their fields' words in one list (b"" between fields)."""

    def __init__(self):
        self.reads: list = []
        self.starts: list[int] = []     # where each record's words begin in ``words``
        self.words: list[bytes] = []

    def add(self, read) -> None:
        self.reads.append(read)
        self.starts.append(len(self.words))
        for words in field_words(read.record):
            self.words += words
            self.words.append(b"")

    def full(self) -> bool:
        return len(self.words) >= BATCH_WORDS or len(self.reads) >= BATCH_RECORDS


def judge(batch: Batch, evals: EvalSet) -> list[str | None]:
    """For each record of the batch: None, or the detail naming what it matched first."""
    verdicts: list[str | None] = [None] * len(batch.reads)
    starts, lengths, owners = evals.index.find(evals.index.values_of(batch.words))
    if not len(starts):
        return verdicts
    records = np.searchsorted(np.array(batch.starts), starts, side="right") - 1
    # Per record, the first window in reading order (the longest where two start together).
    order = np.lexsort((-lengths, starts, records))
    _, first = np.unique(records[order], return_index=True)
    for i in order[first]:
        owner, start = int(owners[i]), int(starts[i])
        words = b" ".join(batch.words[start:start + int(lengths[i])]).decode("utf-8")
        named = f" id {evals.ids[owner]}" if evals.ids[owner] is not None else ""
        verdicts[records[i]] = f"matches {evals.where[owner]}{named}: \"{words}\""
    # Per eval file, training records with any match in it; per eval record, whether it leaked.
    pairs = np.unique(records * len(evals.files) + evals.file_of[owners])
    evals.matched_training += np.bincount(pairs % len(evals.files), minlength=len(evals.files))
    evals.hit[owners] = True
    return verdicts


def settle(batch: Batch, evals: EvalSet, stage) -> None:
    """Keep or drop each record of a judged batch (``stage``: prep.core.stage.Stage), in input order."""
    for read, verdict in zip(batch.reads, judge(batch, evals)):
        if verdict is None:
            stage.keep(read.record)
        else:
            stage.drop(read.record, "contaminated", verdict, where=read.where)
