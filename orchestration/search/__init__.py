"""How a search runs: `points` (a configuration, its outcome, a fixed grid), `grid` (a sweep's
values), `study` (Optuna's trials as points), `driver` (asks, runs, retries, tells, ends children
on interrupt), `worker` (one configuration as a child run, with its hooks), `executors` (this
machine's processes) and `cluster` (a Dask scheduler's workers), `pruning` and `wilcoxon` (stop a
trial early), `memo` (a worker's fold features), `preload` (what a local worker loads up front),
`progress` and `report` (the table, the best model)."""
