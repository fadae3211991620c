"""Preference tuning (DPO, ORPO, KTO) through TRL's trainers, on pre-tokenized Arrow pairs."""
