"""Task generators: validated implement / repair tasks from real C projects (:mod:`.oss`),
with the pure parts (:mod:`.faults`, :mod:`.statements`) apart from the sandbox runs
(:mod:`.sandboxed`) and the project profiles (:mod:`.profiles`)."""
