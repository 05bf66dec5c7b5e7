"""Grading: clean-room application of an agent's change, test-log parsers, and verdicts as a pure function of logs."""
