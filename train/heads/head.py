"""The single-pass head: fit in closed form on frozen embeddings, predict, save and load.

``fit_head(x, labels, HeadOptions(...))`` turns an (n, d) embedding matrix and its labels into a
``Head``. Classification: one-vs-rest +-1 targets, rows weighted so every class weighs the same
(``class_weight``), an unpenalised intercept (rows and targets centred on their weighted means,
so adding a constant to every feature or every target moves the intercept and nothing else),
features and lambda picked by exact leave-one-out (select.py), scores turned into probabilities
by a temperature fitted in closed form on the leave-one-out scores (calibrate.py). Regression:
the raw value, lambda by leave-one-out squared error. ``method`` gd-equivalent and batch-aware
keep the exact T-step gradient-descent solution and the seed's formula (solvers.py) on the same
centred features. The head is saved as ``head.safetensors`` (weights, intercept,
landmarks and their projection where the features have an rbf part) and ``head.json`` (the rest);
a prediction is phi(x) W + b with b = ybar - mu W.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prep.core.errors import StageError
from train.heads import calibrate, kernels, lambda_select, select, solvers
from train.heads.targets import CLASS_WEIGHTS, class_weights, decode, encode_targets

HEAD_JSON = "head.json"
HEAD_WEIGHTS = "head.safetensors"
FORMAT_VERSION = 2
KERNEL_CHOICES = ("auto", "linear", "cosine", "rbf")
# auto, primal and nystrom all solve the primal on explicit features; dual makes every training
# row a landmark, which is the exact kernel solve (an n x n problem: keep n in the thousands).
SOLVERS = ("auto", "dual", "primal", "nystrom")
METHODS = ("ridge", "gd-equivalent", "batch-aware")


@dataclass
class HeadOptions:
    kernel: str = "auto"
    lam: float | None = None          # None: picked by leave-one-out (0 for gd-equivalent)
    lambda_select: str = "loo-accuracy"   # falls back to loo for regression
    solver: str = "auto"
    method: str = "ridge"
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-3
    gamma: float | None = None        # rbf width; None: the median heuristic times GAMMA_FACTORS
    landmarks: int = 256
    seed: int = 0
    bias: bool = True                 # an unpenalised intercept
    task: str = "auto"
    class_weight: str = "balanced"
    select_rows: int = 2048


@dataclass
class Head:
    config: dict
    tensors: dict = field(default_factory=dict)


def _check(opts: HeadOptions) -> None:
    for name, value, choices in (("method", opts.method, METHODS), ("kernel", opts.kernel, KERNEL_CHOICES),
                                 ("solver", opts.solver, SOLVERS), ("class weighting", opts.class_weight,
                                                                    CLASS_WEIGHTS)):
        if value not in choices:
            raise StageError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    if opts.landmarks < 1 or opts.select_rows < 2:
        raise StageError(f"--landmarks must be >= 1 and --select-rows >= 2; got {opts.landmarks}, {opts.select_rows}")


def _solve(opts, best, n_weight: float):
    """(W, lambda, extra config) for the method, from the winning candidate's eigenpairs."""
    s, u = best.eigen
    cross, lam = best.moments["cross"], best.grid[best.index]
    if opts.method == "ridge":
        return solvers.eigen_solve(s, u, cross, lam), lam, {}
    if opts.method == "gd-equivalent":
        lam = opts.lam if opts.lam is not None else 0.0  # the number of steps is the regulariser
        steps = solvers.gd_steps(best.moments["rows"], opts.epochs, opts.batch_size)
        return solvers.gd_primal(best.moments["gram"], cross, n_weight, lam, opts.learning_rate, steps), lam, \
            {"steps": steps}
    b = solvers.batch_aware_b(best.moments["rows"], opts.batch_size, opts.learning_rate, opts.epochs)
    return solvers.eigen_solve(s, u, cross, lam * (1.0 + 1.0 / b)) / b, lam, {"b": b}


def _check_rows(x, labels: list) -> None:
    """StageError for a matrix that is not one row per label, or for the first row with a NaN or
    infinite value (the check costs 5 ms for 67,349 x 384, in blocks)."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    if x.ndim != 2 or len(x) != len(labels):
        raise StageError(f"embeddings of shape {tuple(x.shape)} for {len(labels)} labels; "
                         "expected one row per label")
    for start in range(0, len(x), kernels.CHUNK_ROWS):
        bad = np.flatnonzero(~np.isfinite(x[start:start + kernels.CHUNK_ROWS]).all(axis=1))
        if len(bad):
            raise StageError(f"embedding row {start + int(bad[0]) + 1} has a NaN or infinite value; "
                             "fix or drop that example")


def fit_head(x, labels: list, opts: HeadOptions) -> Head:
    """Fit a head on embeddings ``x`` (n, d) and their labels."""
    # torch, numpy: imported here to keep them off the CLI's start-up path
    import numpy as np
    import torch

    _check(opts)
    x = np.ascontiguousarray(x, dtype=np.float32)
    _check_rows(x, labels)
    y, classes, task = encode_targets(labels, opts.task)
    classify = task == "classification"
    weights = class_weights(y, opts.class_weight) if classify else None
    w = None if weights is None else torch.from_numpy(weights)
    index = torch.from_numpy(y.argmax(axis=1)) if classify else None
    criterion = lambda_select.check_criterion(opts.lambda_select, y.shape[1])
    kernel = opts.kernel if opts.method == "ridge" or opts.kernel != "auto" else "linear"
    search_lam = None if opts.method == "gd-equivalent" else opts.lam
    found = select.search(x, y, w, index, replace(opts, kernel=kernel, lam=search_lam), criterion)
    best = found.best
    weights_matrix, lam, extra = _solve(opts, best, best.moments["weight"])
    intercept = best.moments["ybar"] - best.moments["mu"] @ weights_matrix
    temp = None
    if classify and opts.method == "ridge":
        temp = calibrate.temperature(best.loo_scores(), best.scan_rows[3].numpy())
    spec = best.spec
    solver = "dual" if opts.solver == "dual" else ("nystrom" if best.tensors else "primal")
    config = {"format": FORMAT_VERSION, "task": task, "classes": classes, "features": spec, "method": opts.method,
              "solver": solver, "lambda": lam, "temperature": temp, "intercept": opts.bias,
              "class_weight": opts.class_weight if classify else None, "lambda_search": {"criterion": criterion,
              **found.record}, "options": asdict(opts), **extra,
              "dims": {"train": len(x), "embedding": x.shape[1], "features": len(best.moments["mu"]),
                       "outputs": y.shape[1]}}
    tensors = {"weights": weights_matrix, "intercept": intercept, **best.tensors}
    # Row-major like a loaded head, so predictions before and after saving are the same bits.
    return Head(config, {k: v.contiguous() for k, v in tensors.items()})


def head_outputs(head: Head, x):
    """Raw outputs (n, k) float64: class scores, or the regression value in column 0."""
    # torch, numpy: imported here to keep them off the CLI's start-up path
    import numpy as np
    import torch

    cfg, t = head.config, head.tensors
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != cfg["dims"]["embedding"]:
        raise StageError(f"embeddings of width {x.shape[-1]} do not match the head's {cfg['dims']['embedding']}")
    featurize = kernels.feature_map(cfg["features"], t)

    def run(chunk):
        return featurize(chunk).to(torch.float64) @ t["weights"] + t["intercept"]
    parts = [out for _, out in kernels.feature_chunks(x, run)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, cfg["dims"]["outputs"]))


def predict(head: Head, x) -> tuple[list, list[float]]:
    """(labels, scores): the argmax class and its raw output, or the regression value twice."""
    return decode(head_outputs(head, x), head.config["classes"], head.config["task"])


def predict_proba(head: Head, x):
    """(labels, scores, probabilities (n, k) numpy) for a classification ridge head."""
    cfg = head.config
    if cfg["task"] != "classification" or cfg.get("temperature") is None:
        raise StageError("probabilities need a classification head fitted with --method ridge "
                         f"(this one: {cfg['task']}, method {cfg['method']})")
    outputs = head_outputs(head, x)
    labels, scores = decode(outputs, cfg["classes"], cfg["task"])
    return labels, scores, calibrate.probabilities(outputs, cfg["temperature"])


def head_bytes(head: Head) -> tuple[str, bytes]:
    """(head.json text, head.safetensors bytes), for writing through a Stage."""
    # safetensors: imported here to keep it off the CLI's start-up path
    from safetensors.torch import save
    tensors = {k: v.contiguous() for k, v in sorted(head.tensors.items())}
    return json.dumps(head.config, indent=2, ensure_ascii=False) + "\n", save(tensors)


def load_head(directory: str | Path) -> Head:
    # safetensors: imported here to keep it off the CLI's start-up path
    from safetensors.torch import load_file
    directory = Path(directory)
    config_path, weights_path = directory / HEAD_JSON, directory / HEAD_WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise StageError(f"{directory}: not a head folder ({path.name} missing; made by `single-pass fit`)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("format") != FORMAT_VERSION:
        raise StageError(f"{config_path}: head format {config.get('format')!r}, this version reads {FORMAT_VERSION}; "
                         "refit with `single-pass fit`")
    return Head(config, load_file(str(weights_path)))
