"""Resume safety: rerunning a command continues from the latest *complete* checkpoint.

A checkpoint is complete once ``tunesmith-complete.json`` is in it: written after every
process finished saving (model, optimizer, scheduler, RNG states, trainer_state.json), under
a temporary name and renamed. A run killed while saving leaves a folder without it; the
next run warns, renames it ``checkpoint-N.incomplete`` and resumes from the one before.
Checkpoints from other tools (no ``tunesmith-run.json`` in output_dir) count as complete
when trainer_state.json parses and weights are there.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

from accelerate import PartialState
from transformers import TrainerCallback, TrainerState

from prep.core.atomic import AtomicFile
from prep.core.errors import StageError

MARKER = "tunesmith-complete.json"
RUN_FILE = "tunesmith-run.json"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors",
           "pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin")
# What a checkpoint holds beside the model that save_model writes: training state.
STATE_FILES = re.compile(r"^(rng_state.*\.pth|optimizer\.pt|scheduler\.pt|trainer_state\.json|latest|"
                         r"zero_to_\w+\.py|tunesmith-complete\.json)$")
# Test hook: SIGKILL the process inside on_save at this step, after the Trainer wrote the
# checkpoint's files and before the marker (a run killed while saving).
KILL_ENV = "TUNESMITH_TEST_KILL_AT_SAVE_STEP"


def write_json(path: Path, payload: dict) -> None:
    """Atomically: a reader sees the old file or the whole new one."""
    with AtomicFile(path) as out:
        out.handle.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint-N folder, newest first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir()
             if p.is_dir() and (m := CHECKPOINT.match(p.name))]
    return sorted(found, reverse=True)


def files_complete(folder: Path) -> bool:
    """For checkpoints without a marker: state parses and weights exist."""
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any((folder / name).is_file() for name in WEIGHTS)


def is_complete(folder: Path, marked_run: bool) -> bool:
    if not marked_run:
        return files_complete(folder)
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("complete") is True
    except (OSError, ValueError):
        return False


def _adopt(folder: Path) -> None:
    """Marks another tool's complete checkpoint, since once this run writes its run file,
    reruns require the marker."""
    write_json(folder / MARKER, {"complete": True, "adopted": True})


def _start_over(output_dir: Path) -> None:
    for path in output_dir.iterdir() if output_dir.is_dir() else ():
        if path.is_dir() and (CHECKPOINT.match(path.name) or path.name.endswith(".incomplete")):
            shutil.rmtree(path)
    (output_dir / RUN_FILE).unlink(missing_ok=True)


def resume_point(output_dir: Path, overwrite: bool, explicit: str | None, is_main: bool,
                 warn) -> str | None:
    """The checkpoint to resume from, or None to start fresh.

    Only the main process renames or deletes; call it main process first (the others then
    find the same answer).
    """
    if explicit:
        folder = Path(explicit)
        if not is_complete(folder, (folder.parent / RUN_FILE).is_file()):
            raise StageError(f"--resume_from_checkpoint {explicit}: not a complete checkpoint")
        if is_main and not (folder / MARKER).is_file():
            _adopt(folder)
        return explicit
    if overwrite:
        if is_main:
            _start_over(output_dir)
        return None
    marked_run = (output_dir / RUN_FILE).is_file()
    for _step, folder in checkpoints(output_dir):
        if is_complete(folder, marked_run):
            if is_main and not marked_run:
                _adopt(folder)
            return str(folder)
        if is_main:
            target = folder.with_name(f"{folder.name}.incomplete")
            if target.exists():
                shutil.rmtree(target)
            folder.rename(target)
            warn(f"{folder.name} is incomplete (the run stopped while saving it): moved to {target.name}, "
                 "resuming from an earlier checkpoint")
    return None


def copy_model_files(checkpoint: Path, output_dir: Path) -> list[str]:
    """The model files of ``checkpoint`` (weights, config, tokenizer) copied into ``output_dir``,
    each under a temporary name first, so that a killed copy never looks complete."""
    copied = []
    for path in sorted(checkpoint.iterdir()):
        if path.is_file() and not STATE_FILES.match(path.name):
            partial = output_dir / f".{path.name}.partial"
            shutil.copy2(path, partial)
            os.replace(partial, output_dir / path.name)
            copied.append(path.name)
    return copied


def finished_at(trainer, resume: str, is_main: bool) -> bool:
    """True where the checkpoint reached the run's last step (the Trainer would train one more)."""
    done = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json")).global_step
    planned = trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]
    if done >= planned and is_main:
        print(f"tunesmith: {resume} is the end of this run (step {done} of {planned}); nothing to train",
              file=sys.stderr)
    return done >= planned


def restore_finished(trainer, resume: str) -> bool:
    """Takes over a checkpoint that holds the whole run; True where its model files were copied
    to the output (DeepSpeed: the engine that could load its shards exists only inside train())."""
    trainer.state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
    if not trainer.is_deepspeed_enabled:
        trainer._load_from_checkpoint(resume)
        return False
    if not any((Path(resume) / name).is_file() for name in WEIGHTS):
        raise StageError(f"{resume} holds DeepSpeed's shards only (zero3_save_16bit_model was off): gather "
                         f"them with python {resume}/zero_to_fp32.py {resume} OUT")
    if trainer.is_world_process_zero():
        copy_model_files(Path(resume), Path(trainer.args.output_dir))
    trainer.accelerator.wait_for_everyone()
    return True


def completion_callback():
    """A TrainerCallback that marks each checkpoint complete once every process saved it."""
    class MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            PartialState().wait_for_everyone()  # other ranks write their own RNG files
            if os.environ.get(KILL_ENV) == str(state.global_step):
                os.kill(os.getpid(), signal.SIGKILL)
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
                    write_json(folder / MARKER, {"complete": True, "step": state.global_step,
                                                 "saved_at": time.time(), "files": files})
            return control

    return MarkComplete()
