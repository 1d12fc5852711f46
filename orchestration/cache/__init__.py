"""How the step cache decides: `keys` (what identifies a step's work: parameters, code, input
content, package versions), `reuse` (run a step, or stand in for a finished run with its key),
`claims` (one machine computes a key that several reach at once on a shared server)."""
