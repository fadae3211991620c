"""CPU threads per training process: the machine's cores unless the user chose a number.

``accelerate launch`` puts OMP_NUM_THREADS in every process's environment: the user's own
value or --num_cpu_threads_per_process where given, else 1 (on a CPU machine without a
config it stays 1, so a LoRA run used one core of many). torchrun does the same with 1 for
several processes a node. A launched process therefore cannot tell from its own
environment who chose the number; the launcher's can: the launcher is this process's
parent, and /proc/PARENT/environ holds the environment the launcher itself was started
with. Where the user set neither OMP_NUM_THREADS there nor the launcher's thread flag, the
number came from the launcher and this process takes cores available / local processes.
Without /proc (not Linux) nothing is changed.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

# Launchers whose children this rule is for: their programs, or their modules run with -m.
LAUNCHER_PROGRAMS = ("accelerate", "torchrun")
LAUNCHER_MODULES = ("accelerate.commands.launch", "accelerate.commands.accelerate_cli", "torch.distributed.run",
                    "torch.distributed.launch")
THREAD_FLAGS = ("--num_cpu_threads_per_process", "--num-cpu-threads-per-process")


def _proc_strings(pid: int, name: str) -> list[str] | None:
    """NUL-separated /proc/PID/NAME as strings; None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def cores_available() -> int:
    """CPUs this process may run on (the affinity mask respects taskset and cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def parent_launch(parent: int | None = None) -> tuple[list[str], list[str]] | None:
    """(command line, environment at start) of the parent process, or None where /proc cannot tell."""
    parent = os.getppid() if parent is None else parent
    command, environ = _proc_strings(parent, "cmdline"), _proc_strings(parent, "environ")
    return None if command is None or environ is None else (command, environ)


def launcher_chose(environ, parent: tuple[list[str], list[str]] | None) -> bool:
    """True where OMP_NUM_THREADS in ``environ`` was put there by a launcher, not by the user.

    ``parent``: what parent_launch returns; None (cannot tell) keeps what is set.
    """
    if "OMP_NUM_THREADS" not in environ or parent is None:
        return False
    command, parent_env = parent
    head = command[:3]  # python, then the program or -m and the module
    if not any(Path(part).name in LAUNCHER_PROGRAMS or part in LAUNCHER_MODULES for part in head):
        return False  # started by a shell or a script: the value is the user's
    if any(part.split("=")[0] in THREAD_FLAGS for part in command):
        return False
    return not any(item.startswith("OMP_NUM_THREADS=") for item in parent_env)


def settle_threads(environ=None, parent="detect") -> str | None:
    """Sets torch's thread count where the launcher chose it; returns a line saying so, or None."""
    environ = os.environ if environ is None else environ
    if "OMP_NUM_THREADS" not in environ:
        return None  # torch's own default: every core
    if not launcher_chose(environ, parent_launch() if parent == "detect" else parent):
        return None
    local = max(1, int(environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    threads = max(1, cores_available() // local)
    given = environ["OMP_NUM_THREADS"]
    if str(threads) == given:
        return None
    torch.set_num_threads(threads)
    environ["OMP_NUM_THREADS"] = str(threads)  # what this process's children inherit; a second call is a no-op
    return (f"the launcher set OMP_NUM_THREADS={given}; using {threads} threads per process "
            f"({cores_available()} cores / {local} local processes). Set OMP_NUM_THREADS yourself to choose")
