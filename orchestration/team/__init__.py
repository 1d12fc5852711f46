"""A team's tracking server and its accounts: `server` starts MLflow's authenticated server on
PostgreSQL (`titanic-team-server`), `users` adds users and grants roles (`titanic-team-users`)."""
