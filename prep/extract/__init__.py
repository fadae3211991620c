"""Readers that turn raw sources (HTML, CSV, SQL dumps, JSON/JSONL) into records."""
