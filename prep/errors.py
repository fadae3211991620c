"""Errors that stop a stage with a message for the user instead of a traceback."""


class StageError(Exception):
    """A setup error: missing column, unknown table, wrong key, unreadable input.

    The message names what was asked for and what is available; the CLI prints it and
    exits with status 2. Nothing already written is touched.
    """
