"""`prep dedup`: exact and near duplicates (MinHash + LSH, candidate pairs verified by real Jaccard)."""
