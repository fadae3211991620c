"""What every stage stands on: the user-error type and exit code, reading records, the Stage bookkeeping, flags, record shapes."""
