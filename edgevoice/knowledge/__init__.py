"""The owner's documents on the device: read safely, split into passages, indexed with SQLite FTS5 (BM25)."""
