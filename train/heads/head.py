"""The single-pass head: fit in closed form on frozen embeddings, predict, save and load.

``fit_head(x, labels, HeadOptions(...))`` turns an (n, d) embedding matrix and its labels into
a ``Head``: classification (one-hot targets, argmax) or regression (the raw value). The head
is saved as ``head.safetensors`` (weights, plus landmarks or training rows where the kernel
needs them) and ``head.json`` (everything else). Solver choice, methods and formulas: see
train/solvers.py; ``--lambda auto``: see train/lambda_select.py.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prep.core.errors import StageError
from train.heads import kernels, lambda_select, solvers
from train.heads.targets import decode, encode_targets

HEAD_JSON = "head.json"
HEAD_WEIGHTS = "head.safetensors"
FORMAT_VERSION = 1
SOLVERS = ("auto", "dual", "primal", "nystrom")
METHODS = ("ridge", "gd-equivalent", "batch-aware")
# Largest n for the dual solve under --solver auto: an n x n float64 matrix of 10,000 rows is
# 800 MB, and its eigendecomposition (for --lambda auto) about a minute on 2 cores.
DUAL_LIMIT = 10_000


@dataclass
class HeadOptions:
    kernel: str = "linear"
    lam: float | None = None          # None: picked by lambda_select (0 for gd-equivalent)
    lambda_select: str = "loo-accuracy"   # falls back to loo for regression
    solver: str = "auto"
    method: str = "ridge"
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-3
    gamma: float | None = None        # rbf width; None: the median heuristic
    landmarks: int = 1000
    seed: int = 0
    bias: bool = True
    task: str = "auto"


@dataclass
class Head:
    config: dict
    tensors: dict = field(default_factory=dict)


def choose_solver(kernel: str, n: int, d: int, solver: str) -> str:
    explicit = kernel in kernels.EXPLICIT
    if solver == "primal" and not explicit:
        raise StageError(f"--solver primal needs explicit features (kernel {' or '.join(kernels.EXPLICIT)}); "
                         f"kernel {kernel!r} takes --solver dual or nystrom")
    if solver != "auto":
        return solver
    if explicit and n > d:
        return "primal"
    if n <= DUAL_LIMIT:
        return "dual"
    return "primal" if explicit else "nystrom"


def _featurizer(opts: HeadOptions, solver: str, x, config: dict, tensors: dict):
    """The feature map of a primal-type solve; stores what predict needs to rebuild it."""
    if solver == "primal":
        return lambda chunk: kernels.explicit_features(opts.kernel, chunk, opts.bias)
    rows = kernels.choose_landmarks(len(x), opts.landmarks, opts.seed)
    landmarks = kernels.as_tensor(x[rows]).float()
    projection = kernels.nystrom_map(opts.kernel, landmarks, config["gamma"])
    tensors.update(landmarks=landmarks, projection=projection)
    config["landmarks"] = len(rows)
    return lambda chunk: kernels.nystrom_features(opts.kernel, chunk, landmarks, projection,
                                                  config["gamma"], opts.bias)


def _pick_lambda(opts, config: dict, scale: float, select) -> float:
    """The given lambda, 0 for gd-equivalent, or ``select(grid)``'s pick over a grid at ``scale``."""
    if opts.lam is not None:
        return opts.lam
    if opts.method == "gd-equivalent":
        return 0.0  # the number of steps is the regulariser
    grid = lambda_select.lambda_grid(scale)
    best, scores = select(grid)
    config["lambda_search"] = {"criterion": opts.lambda_select, "grid": grid, "scores": scores}
    return best


def _solve(opts, n, lam, ridge, gd):
    """Dispatch on the method; ``ridge(lam)`` and ``gd(lam, eta, steps)`` are the solver's forms."""
    if opts.method == "ridge":
        return ridge(lam), {}
    if opts.method == "gd-equivalent":
        steps = solvers.gd_steps(n, opts.epochs, opts.batch_size)
        return gd(lam, opts.learning_rate, steps), {"steps": steps}
    b = solvers.batch_aware_b(n, opts.batch_size, opts.learning_rate, opts.epochs)
    return ridge(lam * (1.0 + 1.0 / b)) / b, {"b": b}


def fit_head(x, labels: list, opts: HeadOptions) -> Head:
    """Fit a head on embeddings ``x`` (n, d) and their labels."""
    # torch, numpy: imported here to keep them off the CLI's start-up path
    import numpy as np
    import torch

    if opts.method not in METHODS:
        raise StageError(f"unknown method {opts.method!r}; choose from {', '.join(METHODS)}")
    if opts.kernel not in kernels.KERNELS:
        raise StageError(f"unknown kernel {opts.kernel!r}; choose from {', '.join(kernels.KERNELS)}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    y, classes, task = encode_targets(labels, opts.task)
    n, d = x.shape
    solver = choose_solver(opts.kernel, n, d, opts.solver)
    gamma = opts.gamma if opts.gamma is not None or opts.kernel != "rbf" else kernels.median_gamma(x, opts.seed)
    config = {"format": FORMAT_VERSION, "task": task, "classes": classes, "kernel": opts.kernel,
              "gamma": gamma, "bias": opts.bias, "method": opts.method, "solver": solver,
              "options": asdict(opts)}
    tensors: dict = {}
    if solver == "dual":
        k = kernels.kernel_matrix(opts.kernel, x, x, gamma, opts.bias)
        lam = _pick_lambda(opts, config, float(k.diagonal().mean()),
                           lambda grid: lambda_select.select_dual(k, y, grid, opts.lambda_select))
        alpha, extra = _solve(opts, n, lam, lambda v: solvers.ridge_dual(k, y, v),
                              lambda v, eta, t: solvers.gd_dual(k, y, v, eta, t))
        if opts.kernel in kernels.EXPLICIT:  # W = Phi^T alpha: predict needs no training rows
            phi = kernels.explicit_features(opts.kernel, x, opts.bias).to(torch.float64)
            tensors["weights"] = phi.T @ alpha
        else:
            tensors.update(alpha=alpha, support=torch.from_numpy(x))
    else:
        featurize = _featurizer(opts, solver, x, config, tensors)
        gram, cross = solvers.gram_stats(x, featurize, torch.from_numpy(y))
        lam = _pick_lambda(opts, config, float(gram.diagonal().sum()) / n, lambda grid: lambda_select.select_primal(
            x, featurize, y, gram, cross, grid, opts.lambda_select))
        tensors["weights"], extra = _solve(opts, n, lam, lambda v: solvers.ridge_primal(gram, cross, v),
                                           lambda v, eta, t: solvers.gd_primal(gram, cross, n, v, eta, t))
    config.update(extra)
    config["lambda"] = lam
    config["form"] = "kernel" if "alpha" in tensors else "features"
    config["dims"] = {"train": n, "embedding": d, "outputs": y.shape[1]}
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
    if cfg["form"] == "kernel":
        def run(chunk):
            return kernels.kernel_matrix(cfg["kernel"], chunk, t["support"], cfg["gamma"], cfg["bias"]) @ t["alpha"]
    elif "landmarks" in t:
        def run(chunk):
            return kernels.nystrom_features(cfg["kernel"], chunk, t["landmarks"], t["projection"], cfg["gamma"],
                                            cfg["bias"]).to(torch.float64) @ t["weights"]
    else:
        def run(chunk):
            return kernels.explicit_features(cfg["kernel"], chunk, cfg["bias"]).to(torch.float64) @ t["weights"]
    parts = [out for _, out in kernels.feature_chunks(x, run)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, cfg["dims"]["outputs"]))


def predict(head: Head, x) -> tuple[list, list[float]]:
    """(labels, scores): the argmax class and its raw output, or the regression value twice."""
    return decode(head_outputs(head, x), head.config["classes"], head.config["task"])


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
        raise StageError(f"{config_path}: head format {config.get('format')!r}, this version reads {FORMAT_VERSION}")
    return Head(config, load_file(str(weights_path)))
