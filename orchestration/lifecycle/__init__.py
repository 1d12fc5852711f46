"""A run's life: `runs` starts and ends runs FINISHED, FAILED or KILLED and turns signals into
KILLED runs; `liveness` (heartbeats, dead runs) and `processes` (which process this is, and
whether another is alive) find runs whose process died; `launcher` watches the `mlflow run`
process above an entry point."""
