"""Real-bug tasks mined from a project's upstream history (``lanser bench generate history``, docs/mining.md)."""
