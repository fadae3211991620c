"""The one training code path behind train.hf_trainer and train.qlora.

``run_training`` takes the parsed dataclasses, loads data and model (full | lora | qlora),
resumes from the latest complete checkpoint, trains with the HF Trainer, saves the model
(or adapter) and tokenizer, and writes the loss curves. ``cli_main`` is what both entry
points call: old flag spellings rewritten, flags parsed, setup errors printed as one line.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import transformers
from transformers import Trainer, TrainingArguments, set_seed

from prep.core.errors import StageError, exit_code
from train import run_config
from train.export import card
from train.lm import checkpoints
from train.lm.args import (
    DataArguments,
    LoraArguments,
    ModelArguments,
    QuantArguments,
    RunArguments,
    method_of,
    parse,
)
from train.lm.collate import LengthGroupedSampler
from train.lm.data import check_vocab, load_data
from train.lm.legacy_flags import rewrite
from train.lm.model import embedding_rows, is_main_process, load_model, load_tokenizer, special_tokens, warn
from train.lm.packing import make_collator, prepare_model
from train.lm.sharding import check_fsdp, prepare_deepspeed
from train.lm.switches import settle_runner
from train.lm.threads import settle_threads
from train.observe import samples
from train.preference.args import check as check_preference
from train.preference.build import build as build_preference
from train.tools.curves import write_curves


def parse_cli(argv: list[str], types: tuple, prog: str, leading=()) -> tuple:
    """Old spellings rewritten (one warning line each), then parsed into ``types``.

    ``leading``: flags placed before the user's (defaults that the user's flags override).
    """
    argv, notes = rewrite(list(argv))
    for note in notes if is_main_process() else ():
        print(f"tunesmith: warning: {note}", file=sys.stderr)
    return parse([*leading, *argv], types, prog)


def run_parsed(parsed: tuple, callbacks=()) -> dict:
    """run_training with the dataclasses picked out of ``parsed`` by type."""
    def pick(cls):
        return next((p for p in parsed if isinstance(p, cls)), None)

    return run_training(pick(ModelArguments), pick(DataArguments), pick(LoraArguments), pick(QuantArguments),
                        pick(RunArguments), training_args=pick(TrainingArguments), callbacks=callbacks)


def prepare_process(argv: list[str]) -> None:
    """What the launcher set up, settled before the flags are parsed (parsing TrainingArguments
    starts the distributed backend): threads, DeepSpeed's CPU compile."""
    note = settle_threads()
    if note:
        warn(note)
    if prepare_deepspeed(argv=argv):
        warn("DeepSpeed on the CPU: gloo collectives, without compiling DeepSpeed's shared-memory "
             "allreduce (TUNESMITH_DEEPSPEED_SHM=1 builds it)")


def cli_main(argv: list[str] | None, types: tuple, prog: str, check=None, leading=()) -> int:
    """What the entry points run: parse, ``check(parsed)``, train; setup errors as one line, exit 2."""
    def train() -> None:
        args = run_config.expand(sys.argv[1:] if argv is None else list(argv), types, prog)
        prepare_process(args)
        parsed = parse_cli(args, types, prog, leading)
        if check is not None:
            check(parsed)
        run_parsed(parsed)
        close_process_group()

    return exit_code(train)


def close_process_group() -> None:
    """Ends a launched run's process group once every rank has finished.

    Left to interpreter shutdown, gloo's threads can be torn down out of order and abort one
    rank after the last save (SIGABRT, "terminate called without an active exception"), which
    fails a run that trained and saved correctly.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def settle(model_args, data_args, quant_args, training_args) -> None:
    """Flag combinations resolved once, before anything loads."""
    if model_args.use_xformers:
        warn("--use_xformers: using PyTorch SDPA attention (memory-efficient kernels built in)")
        model_args.attn_implementation = "sdpa"
    if model_args.enable_profiler:
        warn("--enable_profiler is not supported here; ignored")
    if quant_args.adam8bit:
        training_args.optim = "adamw_bnb_8bit"
    if training_args.activation_checkpointing and not training_args.activation_checkpointing_kwargs:
        # The non-reentrant variant works with frozen inputs (LoRA) and is what PyTorch recommends.
        training_args.activation_checkpointing_kwargs = {"use_reentrant": False}
        training_args.gradient_checkpointing_kwargs = training_args.activation_checkpointing_kwargs
    training_args.remove_unused_columns = False  # the collator picks its columns itself
    try:
        check_fsdp(training_args)
    except StageError:
        if not is_main_process():
            raise SystemExit(2) from None  # every process stops; the main process says why, once
        raise
    if data_args.group_by_length or training_args.train_sampling_strategy == "group_by_length":
        data_args.group_by_length = True
        training_args.train_sampling_strategy = "random"  # ours replaces the Trainer's sampler
    settle_runner(model_args, data_args, training_args, quiet=not is_main_process())


def trainer_class():
    """The HF Trainer with the length-grouped sampler that --group_by_length asks for."""
    class RunnerTrainer(Trainer):
        def __init__(self, *args, group_lengths=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.group_lengths = group_lengths

        def _get_train_sampler(self, train_dataset=None):
            if self.group_lengths is None or (train_dataset is not None and train_dataset is not self.train_dataset):
                return super()._get_train_sampler(train_dataset)
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return LengthGroupedSampler(self.group_lengths, self._train_batch_size, seed)

    return RunnerTrainer


def build_trainer(model, tokenizer, training_args, data_args, train_ds, eval_ds, callbacks=()):
    collator = make_collator(data_args.packing, tokenizer.pad_token_id, data_args.pad_to_multiple_of,
                             data_args.uft, getattr(model.config, "_attn_implementation", None))
    if data_args.packing == "padding-free":
        prepare_model(model)  # packed positions are read only without a KV cache
    lengths = list(train_ds["length"]) if data_args.group_by_length else None
    return trainer_class()(
        model=model, args=training_args, train_dataset=train_ds, eval_dataset=eval_ds,
        data_collator=collator, processing_class=tokenizer, group_lengths=lengths,
        callbacks=[checkpoints.completion_callback(), *callbacks])


def _check_eval(training_args, eval_ds) -> None:
    if eval_ds is None and getattr(training_args.eval_strategy, "value", "no") != "no":
        raise StageError(f"--eval_strategy {training_args.eval_strategy} needs evaluation data: pass "
                         "--eval_file or --eval_dataset_size N")


def _resume(training_args, run_args) -> str | None:
    with training_args.main_process_first(desc="checking checkpoints"):
        return checkpoints.resume_point(Path(training_args.output_dir), run_args.overwrite_output_dir,
                                        training_args.resume_from_checkpoint, is_main_process(), warn)


def _run_record(trainer, method: str, resume: str | None, started: float, status: str, extra=None) -> dict:
    record = {"status": status, "method": method, "argv": sys.argv[1:], "resumed_from": resume,
              "world_size": trainer.args.world_size, "started": started,
              "threads": torch.get_num_threads(),
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
              **(extra or {})}
    if trainer.is_world_process_zero():
        checkpoints.write_json(Path(trainer.args.output_dir) / checkpoints.RUN_FILE, record)
    return record


def _curves(output_dir: str) -> None:
    try:
        write_curves(output_dir)
    except StageError as exc:
        warn(f"curves: {exc}")


def _sft(model_args, data_args, lora_args, quant_args, training_args, run_args, tokenizer, method: str,
         callbacks=()) -> tuple:
    """(train, eval or None, trainer) for the next-token objective on input_ids/labels."""
    train_ds, eval_ds = load_data(data_args, training_args, tokenizer, special_tokens(model_args))
    _check_eval(training_args, eval_ds)
    model = load_model(model_args, lora_args, quant_args, training_args, tokenizer, method)
    check_vocab({"train": train_ds, "eval": eval_ds}, embedding_rows(model))
    return train_ds, eval_ds, build_trainer(model, tokenizer, training_args, data_args, train_ds, eval_ds, callbacks)


def run_training(model_args, data_args, lora_args, quant_args=None, run_args=None, *, training_args,
                 callbacks=()) -> dict:
    """Train as the flags say; returns a summary (also written to OUTPUT_DIR/tunesmith-run.json)."""
    quant_args = quant_args or QuantArguments()
    run_args = run_args or RunArguments()
    if run_args.task != "causal-lm":  # train.hf_trainer.main routes seq-cls before parsing these types
        raise StageError(f"--task {run_args.task} trains a classifier, with flags of its own: run "
                         "`accelerate launch -m train.hf_trainer --task seq-cls ...` or train.classify.run.main")
    method = method_of(lora_args, quant_args)
    check_preference(run_args)  # before anything is written: --loss_type/--beta fit --method
    settle(model_args, data_args, quant_args, training_args)
    started = time.time()
    set_seed(training_args.seed)  # before LoRA's random init: same seed, same adapters
    resume = _resume(training_args, run_args)
    if is_main_process():
        flags = run_config.effective(model_args, data_args, lora_args, quant_args, run_args, training_args)
        run_config.write(training_args.output_dir, flags, sys.argv[1:])
    tokenizer = load_tokenizer(model_args)
    sampler = samples.prepare(run_args, data_args, training_args, tokenizer)  # a bad prompt file stops here
    build = _sft if run_args.method == "sft" else build_preference  # dpo/orpo/kto: train/preference/
    train_ds, eval_ds, trainer = build(model_args, data_args, lora_args, quant_args, training_args, run_args,
                                       tokenizer, method, callbacks)
    samples.attach(sampler, trainer, resume)
    if resume and is_main_process():
        print(f"tunesmith: resuming from {resume}", file=sys.stderr)
    options = {k: v for args in (model_args, data_args, lora_args, quant_args, run_args)
               for k, v in asdict(args).items()}
    _run_record(trainer, method, resume, started, "running", {"options": options})
    copied = False
    if resume and checkpoints.finished_at(trainer, resume, is_main_process()):
        metrics = {}  # the checkpoint already holds the whole run: load it, train nothing
        copied = checkpoints.restore_finished(trainer, resume)
    else:
        metrics = dict(trainer.train(resume_from_checkpoint=resume).metrics)
    step = trainer.state.global_step
    evaluated = any("eval_loss" in e and e.get("step") == step for e in trainer.state.log_history)
    if training_args.do_eval and eval_ds is not None and not evaluated:
        if copied:  # the model in memory is not the checkpoint's
            warn(f"not evaluating: the model of {resume} was copied, not loaded; evaluate {training_args.output_dir}")
        else:
            metrics.update(trainer.evaluate())
    if not copied:
        trainer.save_model()
    trainer.save_state()
    if run_args.method == "sft" and trainer.is_world_process_zero():
        # PEFT's save_pretrained has just left its template README.md in the run folder; the run's own
        # card replaces it (the preference trainers write theirs in save_state).
        card.write_for_trainer(trainer)
    summary = {"global_step": trainer.state.global_step, "metrics": metrics,
               "train_examples": len(train_ds), "eval_examples": len(eval_ds) if eval_ds is not None else 0}
    record = _run_record(trainer, method, resume, started, "finished", {"options": options, **summary})
    if trainer.is_world_process_zero():
        _curves(training_args.output_dir)
    return record
