"""What MLflow loads only when a run first needs it, loaded here instead: the fork server
imports this module once, while the search command sets up its run, and every local worker
forked from it starts its first configuration with these already in memory rather than
loading them itself while the configuration waits (about 1.5 s per worker on 2 cores).

Importing this module is all it does; it is not for a process that runs no configuration.
"""

from __future__ import annotations

from urllib.parse import urlparse

import git  # noqa: F401  MLflow's git context imports it when a process starts its first run
import mlflow
from mlflow.utils import requirements_utils

if urlparse(mlflow.get_tracking_uri()).scheme not in ("http", "https"):
    # The store of a database URI (sqlite, PostgreSQL): about 1 s of imports. A tracking
    # server's client is part of `import mlflow`.
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

# `log_model` checks the listed requirements against the installed packages through a map of
# every installed package's modules, built on first use by reading each one's file list
# (0.45-0.6 s). MLflow keeps the map in this module-level cache; it has no public way in.
requirements_utils._init_modules_to_packages_map()
