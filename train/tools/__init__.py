"""Commands around a run: loss curves and their diagnosis, memory estimate, merge, model helpers, generation."""
