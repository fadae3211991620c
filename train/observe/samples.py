"""``--sample_prompts``: greedy generations for a few prompts at each evaluation and at the end.

A user sees a missing EOS or a template mistake at step 50, not after the run. The prompts are
read before anything loads (a broken line stops the run with FILE:LINE), laid out as the
training examples were (train.observe.render), and answered by the main process only; the model
goes back to training mode afterwards. Each sampling appends to OUTPUT_DIR/samples.jsonl (the
whole file rewritten atomically: a kill leaves the previous version), goes to TensorBoard/W&B as
text when they are on, and prints one summary line that counts the generations that never
stopped (no EOS within --sample_max_new_tokens), came out empty, or hold a stray special token
(a turn marker: the template or the data is wrong).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from transformers import TrainerCallback, TrainerState
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

from prep.core.atomic import AtomicFile
from prep.core.errors import StageError
from train.lm.model import is_main_process, warn
from train.observe.generation import generate, log_text
from train.observe.prompts import read_prompts
from train.observe.render import encode, training_layout

SAMPLES_FILE = "samples.jsonl"


class Sampler(TrainerCallback):
    """Generates at each evaluation, every ``every`` steps (0: never) and at the end of training."""

    def __init__(self, prompts: list, encoded: list, tokenizer, max_new_tokens: int, every: int):
        self.prompts, self.encoded, self.tokenizer = prompts, encoded, tokenizer
        self.max_new_tokens, self.every = max_new_tokens, every
        self.records: list[dict] = []
        self.done: set[int] = set()
        self.path: Path | None = None
        self.trainer = None

    def start(self, trainer, resume: str | None) -> None:
        """Keeps the records of a resumed run up to its checkpoint (later ones are redone)."""
        self.trainer = trainer
        self.path = Path(trainer.args.output_dir) / SAMPLES_FILE
        if resume is None or not self.path.is_file():
            return
        step = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json")).global_step
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                record = json.loads(line)
                later = record["step"] > step
            except (ValueError, KeyError, TypeError) as exc:  # edited by hand: keep what can be read
                warn(f"{self.path}:{number}: skipped ({exc})")
                continue
            if not later:
                self.records.append(record)
                self.done.add(record["step"])

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self.sample(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and state.global_step % self.every == 0:
            self.sample(state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.sample(state, model)

    def sample(self, state, model) -> None:
        step = state.global_step
        if not state.is_world_process_zero or model is None or step in self.done:
            return
        self.done.add(step)
        made = generate(model, self.tokenizer, self.encoded, self.max_new_tokens)
        new = [{"step": step, "index": i, "prompt": p.shown, "input": text, **result,
                **({"reference": p.reference} if p.reference is not None else {})}
               for i, (p, (_, text), result) in enumerate(zip(self.prompts, self.encoded, made))]
        self.records.extend(new)
        with AtomicFile(self.path) as out:
            out.handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records)
        log_text(self.trainer, new, step)
        print(f"tunesmith: {summary(new, self.max_new_tokens)} ({self.path})", file=sys.stderr)


def summary(records: list[dict], max_new_tokens: int) -> str:
    """One line: how many generations stopped at EOS, and each common failure with the prompts it hit."""
    step = records[0]["step"]
    stopped = sum(r["stopped_at_eos"] for r in records)
    checks = (("never stopped (no EOS within %d tokens)" % max_new_tokens, lambda r: not r["stopped_at_eos"]),
              ("empty", lambda r: r["stopped_at_eos"] and not r["generation"].strip()),
              ("hold a stray special token", lambda r: r["stray_special_tokens"]))
    problems = []
    for label, hit in checks:
        which = [str(r["index"] + 1) for r in records if hit(r)]
        if which:
            problems.append(f"{len(which)} {label}: prompt {', '.join(which[:8])}")
    return (f"samples at step {step}: {stopped} of {len(records)} stopped at EOS"
            + ("; " + "; ".join(problems) if problems else ""))


def prepare(run_args, data_args, training_args, tokenizer) -> Sampler | None:
    """The sampler of ``--sample_prompts`` (None without it), before the model loads."""
    path = getattr(run_args, "sample_prompts", None)
    if not path:
        return None
    if run_args.sample_max_new_tokens < 1 or run_args.sample_every < 0:
        raise StageError(f"--sample_max_new_tokens {run_args.sample_max_new_tokens} / --sample_every "
                         f"{run_args.sample_every}: need at least 1 token and a step count of 0 or more")
    prompts = read_prompts(path)
    layout = training_layout(tokenizer, data_args)
    encoded = encode(prompts, tokenizer, layout)
    if is_main_process():
        print(f"tunesmith: {len(prompts)} sample prompts from {path}, laid out in {layout.describe()}",
              file=sys.stderr)
    evaluates = getattr(training_args.eval_strategy, "value", "no") != "no"
    if not evaluates and not run_args.sample_every:
        warn("--sample_prompts without evaluation: samples only at the end (pass --sample_every N)")
    return Sampler(prompts, encoded, tokenizer, run_args.sample_max_new_tokens, run_args.sample_every)


def attach(sampler: Sampler | None, trainer, resume: str | None) -> None:
    """Adds the sampler to the trainer, unless the model is sharded across processes."""
    if sampler is None:
        return
    if trainer.is_fsdp_enabled or is_deepspeed_zero3_enabled():
        warn("--sample_prompts: no samples under FSDP or ZeRO-3 (each process holds a shard of the "
             "weights); sample the saved model with `tunesmith models generate`")
        return
    sampler.start(trainer, resume)
    trainer.add_callback(sampler)
