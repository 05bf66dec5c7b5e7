"""Running tasks: agents, the step loop, the driver of a run, where attempts are placed (local or Ray), the result store."""
