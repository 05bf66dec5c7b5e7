"""The click front door: parse, call the orchestrator (or the daemon), render."""
