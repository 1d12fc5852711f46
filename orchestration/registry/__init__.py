"""The best model under a stable name: `selection` is the rule that ranks runs and picks one;
`champion` registers a run's model and moves the `champion` alias only to a model the rule
prefers; `leaderboard` lists the best models (`titanic-leaderboard`)."""
