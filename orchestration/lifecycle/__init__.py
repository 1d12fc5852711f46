"""A run's life: `runs` ends every run its process started FINISHED, FAILED or KILLED, saying
why, and turns signals into KILLED runs; `liveness` lets the next command end what a dead
process could not (heartbeats, process identities, dead runs)."""
