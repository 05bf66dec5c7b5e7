"""The Docker harness (to come: issue 7)."""
