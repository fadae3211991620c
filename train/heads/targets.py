"""Labels to targets and back: classes for classification, values for regression.

Classification: the classes are the distinct labels sorted (numbers before strings, so the
order is the same on every run), the targets one-vs-rest rows (+1 for the row's class, -1 for
every other), the prediction the argmax. With an unpenalised intercept the coding does not move
the argmax (+-1 is 2 x one-hot - 1, an affine change of every output); it makes each output an
estimate on the -1..+1 scale of a margin. ``class_weights`` balances the classes: row weight
n / (k n_c), so every class carries the same total weight (a rare class is not drowned out).
Regression: the labels are numbers, the target one column, the prediction its raw value.
``task="auto"`` picks regression when every label is a number and there are non-integers or
more than ``AUTO_REGRESSION_DISTINCT`` distinct values; classification otherwise.
"""
from __future__ import annotations

import math

from prep.core.errors import StageError

TASKS = ("auto", "classification", "regression")
CLASS_WEIGHTS = ("balanced", "none")
AUTO_REGRESSION_DISTINCT = 20
# Digits kept in the scores written by predict: outputs are float64, 6 digits is plenty to read.
SCORE_DIGITS = 6


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def class_key(value):
    """Numbers first (by value), then strings, then anything else by its text."""
    if is_number(value):
        return (0, value, "")
    if isinstance(value, str):
        return (1, 0, value)
    return (2, 0, repr(value))


def decide_task(labels: list, task: str = "auto") -> str:
    if task not in TASKS:
        raise StageError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    # Judged per distinct type, not per label: one pass over 67k labels costs 3 ms, not 50 ms.
    numeric = all(issubclass(t, (int, float)) and not issubclass(t, bool) for t in {type(v) for v in labels})
    if task == "regression" and not numeric:
        bad = next(v for v in labels if not is_number(v))
        raise StageError(f"--task regression needs numeric labels; found {bad!r}")
    distinct = set(labels)
    if any(isinstance(v, float) and not math.isfinite(v) for v in distinct):
        row = next(i for i, v in enumerate(labels) if isinstance(v, float) and not math.isfinite(v))
        raise StageError(f"label {labels[row]!r} of example {row + 1} is not a finite number")
    if task != "auto":
        return task
    if numeric and (any(float(v) != int(v) for v in distinct) or len(distinct) > AUTO_REGRESSION_DISTINCT):
        return "regression"
    return "classification"


def encode_targets(labels: list, task: str = "auto"):
    """(targets (n, k) float64, classes or None, task)."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np

    if not labels:
        raise StageError("no labelled examples to fit on")
    task = decide_task(labels, task)
    if task == "regression":
        return np.asarray(labels, dtype=np.float64).reshape(-1, 1), None, task
    classes = sorted(set(labels), key=class_key)
    if len(classes) < 2:
        raise StageError(f"one class only ({classes[0]!r} in all {len(labels)} examples); "
                         "a classifier needs two or more")
    index = {c: i for i, c in enumerate(classes)}
    targets = -np.ones((len(labels), len(classes)), dtype=np.float64)
    targets[np.arange(len(labels)), [index[v] for v in labels]] = 1.0
    return targets, classes, task


def class_weights(targets, mode: str = "balanced"):
    """Row weights (float64): n / (k n_c) for the row's class c when ``mode`` is balanced, else None."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np

    if mode not in CLASS_WEIGHTS:
        raise StageError(f"unknown class weighting {mode!r}; choose from {', '.join(CLASS_WEIGHTS)}")
    if mode == "none" or targets.shape[1] < 2:
        return None
    which = targets.argmax(axis=1)
    counts = np.bincount(which, minlength=targets.shape[1]).astype(np.float64)
    return (len(which) / (targets.shape[1] * counts))[which]


def decode(outputs, classes: list | None, task: str) -> tuple[list, list[float]]:
    """(labels, scores) from raw outputs: argmax class and its output, or the value itself."""
    if task == "regression":
        values = [round(float(v), SCORE_DIGITS) for v in outputs[:, 0]]
        return values, list(values)
    best = outputs.argmax(axis=1)
    return ([classes[i] for i in best],
            [round(float(outputs[row, i]), SCORE_DIGITS) for row, i in enumerate(best)])
