"""What MLflow loads only when a run first needs it, loaded before a local worker's first
configuration instead of while that configuration waits: the fork server imports this module
once, and every worker forked from it starts with these modules in memory; the search command
builds MLflow's map of installed packages, on its own core while the fork server imports, and
hands it to each worker.
"""

from __future__ import annotations

from urllib.parse import urlparse

import git  # noqa: F401  MLflow's git context imports it when a process starts its first run
import mlflow
from mlflow.utils import requirements_utils

if urlparse(mlflow.get_tracking_uri()).scheme not in ("http", "https"):
    # The store of a database URI (sqlite, PostgreSQL): about 1 s of imports. A tracking
    # server's client is part of `import mlflow`.
    import mlflow.store.tracking.sqlalchemy_store


# `log_model` checks a model's requirements against the installed packages through a map of
# every installed package's modules, which MLflow builds on first use by reading each one's
# file list (0.45-0.6 s) and keeps in a module-level cache, with no public way in.


def installed_packages() -> dict[str, list[str]]:
    """MLflow's map of installed modules to the packages that provide them, built here."""
    requirements_utils._init_modules_to_packages_map()
    return requirements_utils._MODULES_TO_PACKAGES  # type: ignore[return-value]  # built above


def adopt_installed_packages(known: dict[str, list[str]]) -> None:
    """Give this process the map `installed_packages` built in another process of the same
    environment, so that MLflow does not build it again."""
    requirements_utils._MODULES_TO_PACKAGES = known  # type: ignore[assignment]  # typed None
