"""Dataset preparation: one module per stage, each a generator of records."""
