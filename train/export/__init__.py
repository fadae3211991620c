"""Export a trained model: GGUF for llama.cpp and its kin, and a model card."""
