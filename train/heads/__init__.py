"""The single-pass recipe: closed-form heads on frozen embeddings, their CLI, and the comparison with trained heads."""
