"""A run's life: `runs` starts and ends runs FINISHED, FAILED or KILLED and turns signals into
KILLED runs; `liveness` (heartbeats, dead runs) and `processes` (a process's identity) find runs
whose process died; `launcher` watches the `mlflow run` process above an entry point; `access`
turns a tracking server's refusals into one line; `hosts` tells loopback from beyond, for the
servers that must not listen beyond it unauthenticated."""
