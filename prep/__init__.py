"""Dataset preparation: one CLI stage per module, each ``add_arguments(parser)`` and ``run(args) -> int``.

prep/core holds what every stage shares (errors, records, the Stage bookkeeping, flags, the
record shapes); the stages read records through it and write through it.
"""
