"""Reports of runs: markdown comparison, HTML, JUnit XML, pass@k."""
