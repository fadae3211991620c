"""Whether a run underfit, overfit or fit well, judged from its loss curves in the guide's terms.

The rules (every threshold is a fraction, so none depends on the scale of the loss):

- Smoothing. Train loss jumps from batch to batch, so it is judged after a centred moving
  median over ``w = max(3, n // 10)`` points (made odd; the window is cut short at both ends).
  A median, unlike a mean or an EMA, ignores single spikes and does not lag behind the curve.
  Eval loss is already an average over the whole eval set and is used as logged.
- Range. ``R = max - min`` of the smoothed train loss.
- Underfit, flat: the smoothed train loss fell by less than ``FLAT_DROP`` (5 %) of its first
  value, ``(first - min) / |first| < 0.05``: the model is not learning.
- Underfit, still falling: over the last ``TAIL`` (20 %) of the points (at least 3) fit a
  least-squares line of loss against step; the fall over that stretch is ``-slope * (step span)``.
  It is steep when that fall is more than ``STEEP`` (10 %) of ``R``. A loss falling at an even
  rate loses 20 % of its range in the last fifth of the steps; one that has flattened loses
  almost none. The same test runs on the eval loss when it has at least ``MIN_EVAL_TAIL`` points,
  with R taken from the eval loss itself.
- Overfit: the last eval loss is above the lowest one by more than the tolerance, relative:
  ``(last - min) / min > tolerance`` (default 0.02). The checkpoint to keep is the
  ``checkpoint-N`` folder with the smallest N at or after the step of the minimum.
- Well-fit: none of the above. The gap is the last eval loss minus the smoothed train loss at
  the nearest logged step, absolute and as a fraction of the eval loss.

Overfit is checked first, then underfit (flat, then still falling), then well-fit.
"""
from __future__ import annotations

FLAT_DROP = 0.05
TAIL = 0.20
STEEP = 0.10
MIN_TRAIN_POINTS = 3
MIN_EVAL_TAIL = 4


def moving_median(values: list[float]) -> list[float]:
    """Centred moving median over max(3, n // 10) points, made odd; truncated at both ends."""
    n = len(values)
    width = max(3, n // 10)
    half = width // 2
    out = []
    for i in range(n):
        window = sorted(values[max(0, i - half): i + half + 1])
        mid = len(window) // 2
        out.append(window[mid] if len(window) % 2 else (window[mid - 1] + window[mid]) / 2)
    return out


def tail_fall(steps: list[int], values: list[float]) -> tuple[float, int, int]:
    """(fall over the last TAIL of the points from a least-squares line, first step, last step)."""
    count = max(3, round(len(values) * TAIL))
    xs, ys = steps[-count:], values[-count:]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var_x = sum((x - mean_x) ** 2 for x in xs)
    if var_x == 0:
        return 0.0, xs[0], xs[-1]
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var_x
    return -slope * (xs[-1] - xs[0]), xs[0], xs[-1]


def keep_checkpoint(min_step: int, saved: list[int]) -> int | None:
    """The smallest saved checkpoint step at or after the eval minimum (None when none)."""
    later = [step for step in saved if step >= min_step]
    return min(later) if later else None


def overfit(eval_steps, eval_loss, tolerance: float, saved: list[int]) -> dict | None:
    best = min(range(len(eval_loss)), key=lambda i: (eval_loss[i], eval_steps[i]))
    low, last = eval_loss[best], eval_loss[-1]
    rise = (last - low) / abs(low) if low else 0.0
    if rise <= tolerance:
        return None
    keep = keep_checkpoint(eval_steps[best], saved)
    text = (f"overfit: eval loss rose {rise:.1%} from its minimum {low:.4f} at step {eval_steps[best]} "
            f"to {last:.4f} at step {eval_steps[-1]} (tolerance {tolerance:.1%}).")
    if keep is None:
        shown = ", ".join(f"checkpoint-{s}" for s in saved) or "none"
        text += (f" No checkpoint was saved at or after step {eval_steps[best]} (saved: {shown}); "
                 "save more often (--save_steps) or use --load_best_model_at_end.")
    else:
        where = "the one at the minimum" if keep == eval_steps[best] else \
            f"the first saved at or after step {eval_steps[best]}"
        text += f" Keep checkpoint-{keep} ({where})."
    return {"verdict": "overfit", "reason": "eval-rose", "eval_min_step": eval_steps[best],
            "eval_min": low, "eval_last": last, "rise": rise, "keep_checkpoint": keep, "message": text}


def underfit(steps, smoothed, eval_steps, eval_loss) -> tuple[dict | None, dict]:
    """(underfit verdict or None, the tail figures for the well-fit message)."""
    first, low = smoothed[0], min(smoothed)
    drop = (first - low) / abs(first) if first else 0.0
    if drop < FLAT_DROP:
        text = (f"underfit: train loss flat from the start: the smoothed train loss fell {drop:.1%} "
                f"({first:.4f} -> {low:.4f}), under {FLAT_DROP:.0%}. Raise the learning rate or check "
                "that the labels are not all masked.")
        return {"verdict": "underfit", "reason": "flat", "drop": drop, "message": text}, {}
    span = max(smoothed) - low
    fall, start, end = tail_fall(steps, smoothed)
    figures = {"train_tail_fall": fall / span}
    if fall / span > STEEP:
        text = (f"underfit: train loss still falling steeply at the end: over steps {start}-{end} "
                f"(the last {TAIL:.0%} of the points) it fell {fall:.4f}, {fall / span:.0%} of its whole "
                f"range {span:.4f} (steep above {STEEP:.0%}). Train longer or raise the learning rate.")
        return {"verdict": "underfit", "reason": "train-still-falling", **figures, "message": text}, figures
    if len(eval_loss) >= MIN_EVAL_TAIL:
        eval_span = max(eval_loss) - min(eval_loss)
        eval_fall, start, end = tail_fall(eval_steps, eval_loss)
        figures["eval_tail_fall"] = eval_fall / eval_span if eval_span else 0.0
        if figures["eval_tail_fall"] > STEEP:
            text = (f"underfit: eval loss still falling steeply at the end: over steps {start}-{end} it "
                    f"fell {eval_fall:.4f}, {figures['eval_tail_fall']:.0%} of its range {eval_span:.4f} "
                    f"(steep above {STEEP:.0%}). Train longer.")
            return {"verdict": "underfit", "reason": "eval-still-falling", **figures, "message": text}, figures
    return None, figures


def diagnose(train_steps, train_loss, eval_steps, eval_loss, saved: list[int], tolerance: float) -> dict:
    """The verdict as a dict: verdict, reason, the figures behind it, and a message to print."""
    note = "" if eval_loss else \
        " (no eval loss was logged: judged from train loss alone; overfitting cannot be seen without it)"
    if len(train_loss) < MIN_TRAIN_POINTS:
        return {"verdict": "undetermined", "reason": "too-few-points", "message":
                f"undetermined: only {len(train_loss)} train loss points were logged (need "
                f"{MIN_TRAIN_POINTS}); log more often with --logging_steps."}
    if eval_loss:
        verdict = overfit(eval_steps, eval_loss, tolerance, saved)
        if verdict:
            return verdict
    smoothed = moving_median(train_loss)
    verdict, figures = underfit(train_steps, smoothed, eval_steps, eval_loss)
    if verdict:
        verdict["message"] += note
        return verdict
    text = f"well-fit: train loss flattened (last {TAIL:.0%} of the steps: {figures['train_tail_fall']:.0%} of its range)"
    result = {"verdict": "well-fit", "reason": "flattened", **figures}
    if eval_loss:
        near = min(range(len(train_steps)), key=lambda i: abs(train_steps[i] - eval_steps[-1]))
        gap = eval_loss[-1] - smoothed[near]
        result.update(gap=gap, gap_fraction=gap / abs(eval_loss[-1]) if eval_loss[-1] else 0.0)
        text += (f" and so did eval loss ({figures['eval_tail_fall']:.0%})" if "eval_tail_fall" in figures
                 else f"; eval loss has too few points ({len(eval_loss)}) to judge its slope")
        text += (f"; eval - train gap {gap:.4f} ({result['gap_fraction']:.1%} of the eval loss "
                 f"{eval_loss[-1]:.4f}) at step {eval_steps[-1]}.")
    else:
        text += "." + note
    result["message"] = text
    return result


def preference(series: dict) -> dict | None:
    """For DPO/ORPO/KTO runs: did the chosen-minus-rejected reward margin grow, and how often does
    the model rank the chosen completion first (reward accuracy)? Judged on the smoothed train
    margin (first vs last point, growth above FLAT_DROP of its largest size counts) and the last
    eval figures where logged. None for runs that logged no margins."""
    train, evals = series["train"], series["eval"]
    if len(train["margins"]) < MIN_TRAIN_POINTS:
        return None
    smoothed = moving_median(train["margins"])
    first, last = smoothed[0], smoothed[-1]
    scale = max(abs(v) for v in smoothed) or 1.0
    grew = (last - first) / scale > FLAT_DROP
    result = {"margin_first": first, "margin_last": last, "margin_grew": grew}
    text = (f"reward margin (chosen - rejected, smoothed) {'grew' if grew else 'did not grow'}: "
            f"{first:.4f} -> {last:.4f}")
    if train["accuracies"]:
        result["accuracy_last"] = train["accuracies"][-1]
        text += f"; reward accuracy {train['accuracies'][-1]:.0%} at the end"
    if evals["margins"]:
        result.update(eval_margin_last=evals["margins"][-1])
        text += f"; eval margin {evals['margins'][-1]:.4f}"
        if evals["accuracies"]:
            result["eval_accuracy_last"] = evals["accuracies"][-1]
            text += f", eval accuracy {evals['accuracies'][-1]:.0%}"
    if not grew:
        text += (". The model is not separating chosen from rejected: raise the learning rate, train longer, "
                 "or check that the pairs differ")
    result["message"] = text + "."
    return result
