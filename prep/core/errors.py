"""The one user-error type of the project, and the one place that turns it into exit status 2."""
from __future__ import annotations

import sys
from typing import Callable

PROG = "tunesmith"


class StageError(Exception):
    """A setup error: missing column, unknown table, wrong key, unreadable input.

    The message names what was asked for and what is available; the command prints it and
    exits with status 2. Nothing already written is touched.
    """


def exit_code(action: Callable[[], object]) -> int:
    """Runs ``action()``; its int result (None as 0) is the exit status.

    A StageError is one line on stderr and status 2, never a traceback; Ctrl-C is 130 with
    outputs left as they were (every output is renamed into place only when complete); a
    closed pipe (``... | head``) is a normal end.
    """
    try:
        return int(action() or 0)
    except StageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; outputs were left as they were", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
