"""What a run records and reads, and the only machinery a step imports besides the command line:
`names` (every tag, metric and artifact name, defined once), `inputs` (a step's input URIs,
fetched and checked), `datasets` (MLflow datasets with their lineage), `models` (the pipeline as
a logged model, and one read back if trusted), `evaluation` (MLflow's evaluation of a model),
`store` (writes that survive MLflow's races, a step's outputs read back), `folds` (a run's fold
scores), `links` (the lines that load a model or open a run in the UI). A step's cache key covers
these modules, so a renamed artifact is new work; they import nothing else of `orchestration`
(tests/test_structure.py)."""
