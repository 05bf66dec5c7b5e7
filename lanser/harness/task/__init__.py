"""Tasks: task files and their specs, where their sources come from, and the work tree a task runs in."""
