"""Tokenized examples on disk: writing the Arrow IPC stream, reading both Arrow IPC formats.

What ``prep tokenize`` writes is an Arrow IPC *stream* (what ``datasets.Dataset.from_file``
memory-maps) with three columns: ``input_ids`` and ``labels`` (list<int32>) and ``length``
(int32). Older tokenizer scripts wrote the IPC *file* format (magic bytes ``ARROW1``), and
``save_to_disk`` writes folders of ``*.arrow`` shards; ``read_arrow`` takes all three.
"""
from __future__ import annotations

import json
import sys
from array import array
from itertools import chain
from pathlib import Path
from typing import BinaryIO, Iterable

from prep.core.atomic import AtomicFile
from prep.core.errors import StageError
from prep.tokenize.masking import IGNORE

# Rows per Arrow record batch: small enough to keep memory flat, large enough that the
# per-batch overhead (a few hundred bytes of metadata) does not matter.
BATCH_ROWS = 1000
# The IPC file format starts with these 6 bytes; the stream format with 0xFFFFFFFF.
FILE_MAGIC = b"ARROW1"
# Length percentiles written to the stats file.
PERCENTILES = (50, 90, 99)
# Schema metadata key under which the tokenizer settings travel with the data.
META_KEY = b"tunesmith"


def schema(metadata: dict | None = None):
    # pyarrow: imported here to keep it off the CLI's start-up path
    import pyarrow as pa

    fields = pa.schema([("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32())),
                        ("length", pa.int32())])
    if metadata:
        # sort_keys: the same settings always give the same bytes (deterministic outputs).
        fields = fields.with_metadata({META_KEY: json.dumps(metadata, sort_keys=True)})
    return fields


def list_array(rows: list[list[int]]):
    """list<int32> from Python lists, built from flat numpy buffers (faster than pa.array)."""
    # numpy, pyarrow: imported here to keep them off the CLI's start-up path
    import numpy as np
    import pyarrow as pa

    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)), lengths


def int32_bytes(ids) -> bytes:
    """Token ids as little-endian int32 bytes: the payload between workers and ``ArrowWriter``."""
    packed = array("i", ids)
    if sys.byteorder == "big":   # little-endian on every machine of a cluster
        packed.byteswap()
    return packed.tobytes()


class ArrowWriter:
    """Appends examples to an IPC stream in record batches of ``batch_rows``, and keeps the
    lengths and trained-label counts of what it wrote (for the stats file).

    Rows are held as int32 bytes (``add_bytes``, what the workers send) and turned into Arrow
    buffers once per batch: a join and a ``frombuffer``, no Python int per token.
    """

    def __init__(self, sink: BinaryIO, metadata: dict | None = None, batch_rows: int = BATCH_ROWS):
        # pyarrow: imported here to keep it off the CLI's start-up path
        import pyarrow as pa

        self.schema = schema(metadata)
        self.writer = pa.ipc.new_stream(sink, self.schema)
        self.batch_rows = batch_rows
        self.ids: list[bytes] = []
        self.labels: list[bytes] = []
        self.rows = 0
        self.lengths: list = []   # an int64 array per batch written
        self.label_tokens = 0

    def add(self, example: dict) -> None:
        self.add_bytes(int32_bytes(example["input_ids"]), int32_bytes(example["labels"]))

    def add_bytes(self, ids: bytes, labels: bytes) -> None:
        """One row from its input_ids and labels as little-endian int32 bytes."""
        if len(ids) != len(labels):
            raise ValueError(f"input_ids ({len(ids) // 4}) and labels ({len(labels) // 4}) differ in length")
        self.ids.append(ids)
        self.labels.append(labels)
        if len(self.ids) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        # numpy, pyarrow: imported here to keep them off the CLI's start-up path
        import numpy as np
        import pyarrow as pa

        if not self.ids:
            return
        lengths = np.fromiter(map(len, self.ids), dtype=np.int64, count=len(self.ids)) // 4
        offsets = np.zeros(len(self.ids) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        offsets = pa.array(offsets)
        flat_ids = np.frombuffer(b"".join(self.ids), dtype="<i4").astype(np.int32, copy=False)
        flat_labels = np.frombuffer(b"".join(self.labels), dtype="<i4").astype(np.int32, copy=False)
        self.label_tokens += int(np.count_nonzero(flat_labels != IGNORE))
        self.lengths.append(lengths)
        columns = [pa.ListArray.from_arrays(offsets, pa.array(flat)) for flat in (flat_ids, flat_labels)]
        self.writer.write_batch(pa.record_batch([*columns, pa.array(lengths, pa.int32())], schema=self.schema))
        self.rows += len(self.ids)
        self.ids, self.labels = [], []

    def summary(self) -> dict:
        """examples, tokens_total, label_tokens and the length percentiles of what was written."""
        # numpy: imported here to keep it off the CLI's start-up path
        import numpy as np

        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, dtype=np.int64)
        out = {"examples": int(lengths.size), "tokens_total": int(lengths.sum()), "label_tokens": self.label_tokens}
        if lengths.size:
            out["length"] = {**{f"p{q}": int(np.percentile(lengths, q, method="higher")) for q in PERCENTILES},
                             "max": int(lengths.max()), "min": int(lengths.min()),
                             "mean": round(float(lengths.mean()), 1)}
        return out

    def close(self) -> int:
        self.flush()
        self.writer.close()
        return self.rows


def write_arrow(examples: Iterable[dict], path: str | Path | BinaryIO, metadata: dict | None = None,
                batch_rows: int = BATCH_ROWS) -> int:
    """Write examples ({input_ids, labels}) as an Arrow IPC stream; returns the row count.

    ``path`` is a file name (written under a temporary name and renamed when complete)
    or an open binary handle (e.g. ``Stage.handle()``, which is atomic already).
    """
    if hasattr(path, "write"):
        writer = ArrowWriter(path, metadata, batch_rows)
        for example in examples:
            writer.add(example)
        return writer.close()
    out = AtomicFile(Path(path), "wb")
    try:
        rows = write_arrow(examples, out.handle, metadata, batch_rows)
    except BaseException:
        out.abort()
        raise
    out.commit()
    return rows


def is_ipc_file(path: Path) -> bool:
    """True for the IPC file format (random access, footer), False for a stream."""
    with open(path, "rb") as fh:
        return fh.read(len(FILE_MAGIC)) == FILE_MAGIC


def _read_table(path: Path):
    """One .arrow file as a memory-mapped pyarrow Table, whichever IPC format it uses."""
    # pyarrow: imported here to keep it off the CLI's start-up path
    import pyarrow as pa

    source = pa.memory_map(str(path))
    try:
        reader = pa.ipc.open_file(source) if is_ipc_file(path) else pa.ipc.open_stream(source)
        return reader.read_all()
    except pa.ArrowInvalid as exc:
        raise StageError(f"{path}: not an Arrow IPC file or stream ({exc})") from exc


def _with_length(table):
    """Adds the ``length`` column where a file has only input_ids and labels."""
    # pyarrow: imported here to keep it off the CLI's start-up path
    import pyarrow as pa
    import pyarrow.compute as pc

    if "length" in table.column_names or "input_ids" not in table.column_names:
        return table
    return table.append_column("length", pc.list_value_length(table["input_ids"]).cast(pa.int32()))


def arrow_files(path: str | Path) -> list[Path]:
    """A .arrow file, or the sorted *.arrow shards of a folder (``save_to_disk`` layout)."""
    path = Path(path)
    if path.is_dir():
        shards = sorted(p for p in path.rglob("*.arrow") if p.is_file())
        if not shards:
            raise StageError(f"{path}: folder holds no .arrow files")
        return shards
    if not path.is_file():
        raise StageError(f"{path}: no such Arrow file or folder")
    return [path]


def read_metadata(path: str | Path) -> dict:
    """The tokenizer settings ``prep tokenize`` stored in the schema ({} for other files)."""
    raw = (_read_table(arrow_files(path)[0]).schema.metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}


def read_arrow(path: str | Path):
    """A ``datasets.Dataset`` from an IPC stream, an IPC file, or a folder of shards.

    Streams open through ``Dataset.from_file`` (memory-mapped, cached as usual); files in
    the IPC file format, which ``from_file`` rejects, are memory-mapped with pyarrow.
    A missing ``length`` column is computed from input_ids.
    """
    # datasets: imported here to keep it off the CLI's start-up path
    import datasets

    parts = []
    for shard in arrow_files(path):
        table = _read_table(shard)  # also checks that the file is Arrow at all
        if is_ipc_file(shard) or "length" not in table.column_names:
            parts.append(datasets.Dataset(_with_length(table)))
        else:
            parts.append(datasets.Dataset.from_file(str(shard)))
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
