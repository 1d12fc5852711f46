"""What runs, tracks, caches, searches and registers the Titanic model: everything around
`titanic/` that a logged model does not need, in one sub-package a concern.

- `cli`: the command line of every entry point; `pipeline`: prepare -> train -> evaluate as
  child runs; `init_store`: create or diagnose a tracking store (`titanic-init-store`);
- `project`: the MLproject file, its parameters' checks and run names;
- `record`: what a run records and reads (every tag, metric and artifact name, inputs,
  datasets, store writes): the only machinery a step imports, and covered by its cache key;
- `lifecycle`: a run's life (status, signals, heartbeats, dead runs, the `mlflow run` above);
- `cache`: how the step cache decides (keys, reuse, claims across machines);
- `search`: how a search runs (points, driver, workers, executors incl. Dask, Optuna, pruning,
  progress, report);
- `registry`: the champion and the leaderboard; `team`: the team's server and accounts.
"""
