"""Seeing the model while it trains: sample generations during a run, lm-eval-harness scores after it."""
