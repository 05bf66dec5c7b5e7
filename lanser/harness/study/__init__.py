"""The reward study: synthetic trajectories, the statistics, the hard study, re-scoring, plots."""
