"""The data of copa_local.yaml: the JSONL file beside it, as one test split (read locally, never downloaded)."""
from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).with_name("copa_dev_sample.jsonl")


def load(**_task_options):
    """lm-eval passes the task's metadata and dataset_kwargs; the file is fixed."""
    # datasets: imported when lm-eval builds the task
    import datasets

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"test": datasets.Dataset.from_list(rows)}
