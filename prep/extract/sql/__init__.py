"""`prep extract sql`: rows of MySQL/PostgreSQL/SQLite dumps, loaded into an in-memory SQLite, nothing else executed."""

# A statement of a million rows is fine; one row or one value this large is not text to
# train on and would cost several times its size in memory to load (SQLite's parse, Python).
# Here, not in literals.py, so that the stage's flags need nothing heavier than this package.
MAX_ROW_BYTES = 16 << 20
MAX_CELL_BYTES = 8 << 20
