"""`prep extract sql`: rows of MySQL/PostgreSQL/SQLite dumps, loaded into an in-memory SQLite, nothing else executed."""
