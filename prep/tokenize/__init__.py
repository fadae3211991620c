"""`prep tokenize` and `prep inspect`: records to masked token ids in Arrow, and the checks that read them back."""
