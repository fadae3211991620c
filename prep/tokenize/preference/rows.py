"""Preference rows on disk: the Arrow columns the preference trainer reads, and TRL's names for them.

Pairs: ``prompt_input_ids``, ``chosen_input_ids``, ``rejected_input_ids`` (list<int32>);
KTO: ``prompt_input_ids``, ``completion_input_ids`` (list<int32>) and ``label`` (bool). Both carry
``id`` (string, null where the record has none). The prompt and the responses are stored apart:
a training row is the prompt followed by one response, and only the response is trained.
The file is an Arrow IPC stream written as SFT writes its own (prep.tokenize.arrow_io: record
batches of BATCH_ROWS rows, the settings as JSON under the schema metadata key "tunesmith").

TRL 1.16 names the same columns ``prompt_ids``, ``chosen_ids``, ``rejected_ids`` and
``completion_ids`` (DPOTrainer / KTOTrainer and their collators); ``TRL_NAMES`` maps ours to
theirs. Its trainers tokenize in ``_prepare_dataset`` whatever they are given, so a trainer that
reads this file renames the columns and skips that step.
"""
from __future__ import annotations

import json
from typing import BinaryIO

from prep.tokenize.arrow_io import BATCH_ROWS, META_KEY, list_array

PAIR_COLUMNS = ("prompt_input_ids", "chosen_input_ids", "rejected_input_ids")
KTO_COLUMNS = ("prompt_input_ids", "completion_input_ids")
TRL_NAMES = {"prompt_input_ids": "prompt_ids", "chosen_input_ids": "chosen_ids",
             "rejected_input_ids": "rejected_ids", "completion_input_ids": "completion_ids"}


def columns_for(kind: str) -> tuple[str, ...]:
    return PAIR_COLUMNS if kind == "pairs" else KTO_COLUMNS


def schema(kind: str, metadata: dict | None = None):
    # pyarrow: imported here to keep it off the CLI's start-up path
    import pyarrow as pa

    fields = [(name, pa.list_(pa.int32())) for name in columns_for(kind)]
    if kind == "kto":
        fields.append(("label", pa.bool_()))
    fields = pa.schema(fields + [("id", pa.string())])
    if metadata:
        fields = fields.with_metadata({META_KEY: json.dumps(metadata, sort_keys=True)})
    return fields


class PreferenceWriter:
    """Appends rows ({COLUMN: ids, "label"?, "id"?}) to an IPC stream in record batches."""

    def __init__(self, sink: BinaryIO, kind: str, metadata: dict | None = None, batch_rows: int = BATCH_ROWS):
        # pyarrow: imported here to keep it off the CLI's start-up path
        import pyarrow as pa

        self.kind = kind
        self.schema = schema(kind, metadata)
        self.writer = pa.ipc.new_stream(sink, self.schema)
        self.batch_rows = batch_rows
        self.rows: list[dict] = []
        self.written = 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        # pyarrow: imported here to keep it off the CLI's start-up path
        import pyarrow as pa

        if not self.rows:
            return
        arrays = [list_array([row[name] for row in self.rows])[0] for name in columns_for(self.kind)]
        if self.kind == "kto":
            arrays.append(pa.array([row["label"] for row in self.rows], pa.bool_()))
        arrays.append(pa.array([None if row.get("id") is None else str(row["id"]) for row in self.rows],
                               pa.string()))
        self.writer.write_batch(pa.record_batch(arrays, schema=self.schema))
        self.written += len(self.rows)
        self.rows = []

    def close(self) -> int:
        self.flush()
        self.writer.close()
        return self.written


def for_trl(dataset):
    """A ``datasets.Dataset`` read from this file with TRL 1.16's column names (``id`` dropped)."""
    keep = [c for c in dataset.column_names if c in TRL_NAMES or c == "label"]
    dataset = dataset.select_columns(keep)
    return dataset.rename_columns({c: TRL_NAMES[c] for c in keep if c in TRL_NAMES})
