"""Making datasets: synthetic fault generators, mining real bugs from upstream history, kernel tasks."""
