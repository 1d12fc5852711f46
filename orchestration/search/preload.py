"""What MLflow loads only when a run first needs it, loaded before a local worker's first
configuration instead of while that configuration waits: the fork server imports this module
once, and every worker forked from it starts with these modules in memory.
"""

from __future__ import annotations

from urllib.parse import urlparse

import git  # noqa: F401  MLflow's git context imports it when a process starts its first run
import mlflow

if urlparse(mlflow.get_tracking_uri()).scheme not in ("http", "https"):
    # The store of a database URI (sqlite, PostgreSQL): about 1 s of imports. A tracking
    # server's client is part of `import mlflow`.
    import mlflow.store.tracking.sqlalchemy_store
