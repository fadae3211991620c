"""`--task seq-cls`: a text classifier, a transformers model with a classification head or our scratch encoder."""
