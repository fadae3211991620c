"""A training run killed mid-save, for the resume tests: the trainer in a forked child that
SIGKILLs itself inside the save of a chosen step (after the checkpoint's files, before its
completion marker)."""
from __future__ import annotations

import os


def killed_run(args: list[str], step: int) -> int:
    """Runs `train.hf_trainer ARGS` in a child killed while saving ``step``; returns the child's
    status (-9 for the kill)."""
    from train import hf_trainer
    from train.lm.checkpoints import KILL_ENV

    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.environ[KILL_ENV] = str(step)
            code = hf_trainer.main(args)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
