"""What runs, tracks, caches, searches, registers and reports the Titanic model: everything
around `titanic/` that a logged model does not need. One module a concern:

- `cli`: the command line of every entry point; `mlproject`: its declarations; `params`: checks;
- `runs`: run status and signals; `launcher`: `mlflow run` above us; `processes`: process
  identity; `liveness`: heartbeats and dead runs; `hosts`: loopback or beyond;
- `inputs`, `datasets`, `cache`, `claims`: step inputs, their lineage, reuse across runs and
  across machines;
- `pipeline`: prepare -> train -> evaluate; `grid`, `study`, `search`, `executors`, `report`:
  searches; `registry`, `leaderboard`: the best model and its name.
"""
