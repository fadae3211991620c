"""Preference data for DPO, ORPO and KTO: `prep tokenize --task preference` and its checks."""
