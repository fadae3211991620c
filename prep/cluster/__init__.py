"""`prep cluster`: embeddings (hashing TF-IDF or an encoder), PyTorch k-means, per-cluster selection and the report."""
