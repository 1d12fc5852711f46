"""A team's tracking server and its accounts: `server` starts MLflow's authenticated server on
PostgreSQL (`titanic-team-server`), `users` adds users and grants roles (`titanic-team-users`),
`access` turns what the server refuses into one line that names the fix, and `hosts` tells
loopback from beyond for whatever must not listen beyond it unauthenticated."""
