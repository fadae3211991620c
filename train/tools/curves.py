"""Plot a run's train and eval loss and say whether it underfit, overfit or fit well.

Reads the HF Trainer's log history from OUTPUT_DIR/trainer_state.json, or, when a run is still
going or was killed before the end, from the newest OUTPUT_DIR/checkpoint-N/trainer_state.json.
Writes OUTPUT_DIR/curves.png (loss against step, the eval minimum marked) and
OUTPUT_DIR/curves.json (the series and the diagnosis), each under a temporary name first.

The diagnosis, in the guide's terms (the exact rules are in train/fit.py):
  underfit  train loss flat from the start, or still falling steeply at the end
            (the last 20% of the steps still took more than 10% of its whole fall);
  overfit   eval loss rose from its minimum by more than --tolerance (relative): names the
            step of the minimum and the checkpoint-N folder to keep;
  well-fit  both flattened; the eval - train gap is stated.
Train loss is smoothed with a centred moving median (max(3, n/10) points) before judging.
Without eval loss the verdict comes from train loss alone, and says so.
Preference runs (DPO, ORPO, KTO) also log TRL's reward margin (chosen minus rejected) and reward
accuracy: a second panel plots them, and the diagnosis says whether the margin grew.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from prep.core.atomic import AtomicFile
from prep.core.errors import StageError
from prep.core.flags import add_quiet
from train.tools.diagnosis import diagnose, moving_median, preference

DEFAULT_TOLERANCE = 0.02
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR",
                        help="the training run's output_dir (holds trainer_state.json or checkpoint-N/)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="overfit when the last eval loss is above its minimum by more than this "
                             "fraction of the minimum")
    add_quiet(parser)


def run(args: argparse.Namespace) -> int:
    write_curves(args.output_dir, quiet=args.quiet, tolerance=args.tolerance)
    return 0


def checkpoints(output_dir: Path) -> dict[int, Path]:
    """{step: folder} for every checkpoint-N folder in output_dir."""
    found = {}
    for path in output_dir.iterdir():
        match = CHECKPOINT.match(path.name)
        if match and path.is_dir():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def find_state(output_dir: Path) -> Path:
    """trainer_state.json at the top, else in the newest checkpoint that has one."""
    if not output_dir.is_dir():
        raise StageError(f"no such run folder: {output_dir}")
    top = output_dir / "trainer_state.json"
    if top.is_file():
        return top
    for _, folder in reversed(checkpoints(output_dir).items()):
        if (folder / "trainer_state.json").is_file():
            return folder / "trainer_state.json"
    present = ", ".join(sorted(p.name for p in output_dir.iterdir())) or "nothing"
    raise StageError(f"no trainer_state.json in {output_dir} nor in any checkpoint-N/ inside it "
                     f"(it holds: {present}); is it a training run's output_dir?")


def series(state_path: Path) -> dict:
    """train/eval loss and learning rate against step, from the Trainer's log_history."""
    try:
        history = json.loads(state_path.read_text(encoding="utf-8")).get("log_history") or []
    except (OSError, ValueError, AttributeError) as exc:
        raise StageError(f"cannot read the log history in {state_path}: {exc}") from exc
    out = {"train": {"step": [], "loss": []}, "eval": {"step": [], "loss": []},
           "learning_rate": {"step": [], "value": []}}
    # Train entries carry "loss"; eval ones "eval_loss"; the final summary "train_loss" (skipped).
    for entry in history:
        if not isinstance(entry, dict) or "step" not in entry:
            continue
        for key, name, field in (("loss", "train", "loss"), ("eval_loss", "eval", "loss"),
                                 ("learning_rate", "learning_rate", "value")):
            if isinstance(entry.get(key), (int, float)):
                out[name]["step"].append(int(entry["step"]))
                out[name][field].append(float(entry[key]))
    if not out["train"]["loss"] and not out["eval"]["loss"]:
        raise StageError(f"no loss in the log history of {state_path} ({len(history)} entries); "
                         "the run logged nothing yet (lower --logging_steps)")
    rewards = preference_series(history)
    if rewards["train"]["margins"] or rewards["eval"]["margins"]:
        out["preference"] = rewards
    return out


def preference_series(history: list) -> dict:
    """TRL's rewards/margins and rewards/accuracies (eval_ prefixed at evaluations) against step."""
    out = {}
    for split, prefix in (("train", ""), ("eval", "eval_")):
        rows = [e for e in history if isinstance(e, dict) and "step" in e
                and isinstance(e.get(f"{prefix}rewards/margins"), (int, float))]
        accuracies = [e.get(f"{prefix}rewards/accuracies") for e in rows]
        out[split] = {"step": [int(e["step"]) for e in rows],
                      "margins": [float(e[f"{prefix}rewards/margins"]) for e in rows],
                      # KTO logs no accuracy: an empty list rather than a series with holes
                      "accuracies": [float(a) for a in accuracies]
                      if all(isinstance(a, (int, float)) for a in accuracies) else []}
    return out


def plot_preference(ax, rewards: dict) -> None:
    """Reward margin (left axis) and reward accuracy (right axis, 0-1) against step."""
    for split, style, colour in (("train", "-", "tab:green"), ("eval", "o-", "tab:olive")):
        if rewards[split]["margins"]:
            ax.plot(rewards[split]["step"], rewards[split]["margins"], style, color=colour,
                    label=f"{split} reward margin")
    ax.set_xlabel("step")
    ax.set_ylabel("reward margin (chosen - rejected)")
    ax.grid(alpha=0.3)
    right = ax.twinx()
    for split, style, colour in (("train", "--", "tab:purple"), ("eval", "s--", "tab:pink")):
        if rewards[split]["accuracies"]:
            right.plot(rewards[split]["step"], rewards[split]["accuracies"], style, color=colour,
                       label=f"{split} reward accuracy")
    right.set_ylim(-0.05, 1.05)
    right.set_ylabel("reward accuracy")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="best")


def plot(data: dict, diagnosis: dict, path: Path) -> None:
    """curves.png: raw and smoothed train loss, eval loss, eval minimum marked."""
    # matplotlib: imported here to keep it off the CLI's start-up path
    import matplotlib
    matplotlib.use("Agg")
    # matplotlib: imported here to keep it off the CLI's start-up path
    from matplotlib import pyplot as plt

    rows = 2 if data.get("preference") else 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 4.5 * rows), dpi=100, squeeze=False)
    ax = axes[0][0]
    if rows == 2:
        plot_preference(axes[1][0], data["preference"])
    train, evals = data["train"], data["eval"]
    if train["loss"]:
        ax.plot(train["step"], train["loss"], color="tab:blue", alpha=0.3, linewidth=1, label="train loss")
        ax.plot(train["step"], train["smoothed"], color="tab:blue", linewidth=2,
                label="train loss (moving median)")
    if evals["loss"]:
        ax.plot(evals["step"], evals["loss"], "o-", color="tab:orange", label="eval loss")
        best = min(range(len(evals["loss"])), key=lambda i: (evals["loss"][i], evals["step"][i]))
        ax.plot([evals["step"][best]], [evals["loss"][best]], "*", color="tab:red", markersize=16,
                label=f"eval minimum {evals['loss'][best]:.4f} at step {evals['step'][best]}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{diagnosis['verdict']} ({diagnosis['reason']})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with AtomicFile(path, "wb") as out:
            # No software/date metadata, so the same log gives the same bytes.
            fig.savefig(out.handle, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)


def write_json(path: Path, payload: dict) -> None:
    with AtomicFile(path, "w") as out:
        out.handle.write(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")


def write_curves(output_dir, quiet: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Write curves.png and curves.json into output_dir, print the diagnosis; return curves.json's dict."""
    output_dir = Path(output_dir)
    state = find_state(output_dir)
    data = series(state)
    data["train"]["smoothed"] = moving_median(data["train"]["loss"]) if data["train"]["loss"] else []
    saved = list(checkpoints(output_dir))
    diagnosis = diagnose(data["train"]["step"], data["train"]["loss"], data["eval"]["step"],
                         data["eval"]["loss"], saved, tolerance)
    if data.get("preference"):
        note = preference(data["preference"])
        if note:
            diagnosis["preference"] = note
    payload = {"source": str(state.relative_to(output_dir)), "tolerance": tolerance,
               "checkpoints": saved, **data, "diagnosis": diagnosis}
    plot(data, diagnosis, output_dir / "curves.png")
    write_json(output_dir / "curves.json", payload)
    if not quiet:
        if state.parent != output_dir:
            print(f"(read {payload['source']}: the run has no final trainer_state.json yet)")
        print(diagnosis["message"])
        if "preference" in diagnosis:
            print(diagnosis["preference"]["message"])
        print(f"wrote {output_dir / 'curves.png'} and {output_dir / 'curves.json'}")
    return payload
