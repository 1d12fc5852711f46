"""The best model under a stable name: `champion` registers a run's model and moves the
`champion` alias only to a better one; `leaderboard` ranks the runs (`titanic-leaderboard`)."""
