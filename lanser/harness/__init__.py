"""The Docker harness: task files, offline images, the sealed sandbox, agents,
the task loop with per-step process rewards, grading from logs, the result
store and reports (``lanser bench``)."""
