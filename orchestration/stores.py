"""Tracking and registry stores on a database that ride through its brief outages.

A team's PostgreSQL restarting (a few seconds), or a sqlite file another process holds locked
past MLflow's busy wait, fails MLflow's store calls at once. Installed as MLflow's store for the
database schemes (entry points in pyproject.toml, MLflow's plugin mechanism), MLflow's own store
is used as it is, but each call that fails because the database is unreachable is tried again,
with backoff, for up to RIDE_SECONDS, saying so in one line; past that, one line
(`StoreUnreachable`) and the runs left open are ended by the next command. A tracking server
(http) needs none of this: MLflow's client already retries it with backoff.

Imported by every process that imports MLflow in this environment, while MLflow registers its
stores: it imports nothing at module level beyond the standard library, neither MLflow (not yet
importable then) nor the model package (a logged model must load its own copy).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

RIDE_SECONDS = 60.0
FIRST_WAIT, LONGEST_WAIT = 0.5, 8.0
# What a database says when it is down, restarting or held by another process, as opposed to
# a refusal (a wrong password, a missing database) that waiting does not cure.
UNREACHABLE = re.compile(
    r"connection refused|could not connect|server closed the connection|terminating connection"
    r"|shutting down|starting up|database is locked|connection .*(lost|reset|failed|closed)"
    r"|timeout|timed out",
    re.IGNORECASE,
)

log = logging.getLogger("titanic")
# Stores given up on in this process: a call to one is tried once, not waited for again, until
# one succeeds (ending the runs of a command that stopped waiting must not wait once more).
_given_up: set[str] = set()


class StoreUnreachable(Exception):
    """The store stayed unreachable past RIDE_SECONDS: a line for the user, like InputError."""


def unreachable(err: BaseException) -> str | None:
    """Why `err` means the database is (briefly) unreachable, or None."""
    seen: BaseException | None = err
    while seen is not None:
        first = next((line for line in str(seen).splitlines() if line.strip()), "")
        if type(seen).__name__ in ("OperationalError", "DisconnectionError", "InterfaceError"):
            if UNREACHABLE.search(str(seen)):
                return re.sub(r"^\([\w.]+\) ", "", first.strip())  # SQLAlchemy's (module.Error)
        seen = seen.__cause__ or seen.__context__
    return None


def ride_through(uri: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call(*args, **kwargs)`, tried again while the store at `uri` is unreachable."""
    started, wait = time.monotonic(), FIRST_WAIT
    while True:
        try:
            result = call(*args, **kwargs)
            _given_up.discard(uri)
            return result
        except Exception as err:
            reason = unreachable(err)
            if reason is None:
                raise
            waited = time.monotonic() - started
            if uri in _given_up or waited + wait > RIDE_SECONDS:
                _given_up.add(uri)
                raise StoreUnreachable(
                    f"the tracking store {_shown(uri)} stayed unreachable for {waited:.0f} s "
                    f"({reason}): once it is back, run the command again; the runs it left "
                    f"open are ended FAILED by the next command"
                ) from None
            if wait == FIRST_WAIT:
                log.warning(
                    "the tracking store %s is unreachable (%s): trying again for up to %.0f s",
                    _shown(uri),
                    reason,
                    RIDE_SECONDS,
                )
            time.sleep(wait)
            wait = min(2 * wait, LONGEST_WAIT)


def _shown(uri: str) -> str:
    """The URI without a password in it."""
    parts = urlsplit(uri)
    if parts.password:
        return uri.replace(f":{parts.password}@", ":***@")
    return uri


_RIDING: dict[type, type] = {}


def _riding(store_class: type) -> type:
    """`store_class` with every public method riding through outages."""
    if store_class in _RIDING:
        return _RIDING[store_class]

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def riding(self: Any, *args: Any, **kwargs: Any) -> Any:
            return ride_through(self.db_uri, method, self, *args, **kwargs)

        return riding

    methods = {
        name: wrap(value)
        for klass in reversed(store_class.__mro__)
        for name, value in vars(klass).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }
    return _RIDING.setdefault(store_class, type(store_class.__name__, (store_class,), methods))


def _riding_store(build: Callable[..., Any], store_uri: str, **kwargs: Any) -> Any:
    # Filtered here: retrying, MLflow's session logs each failure with a whole traceback.
    logging.getLogger("mlflow.store.db.utils").addFilter(_not_an_outage)
    store = ride_through(store_uri, build, store_uri=store_uri, **kwargs)
    store.__class__ = _riding(type(store))  # the same store, its calls ridden through
    return store


def _not_an_outage(record: logging.LogRecord) -> bool:
    return not (record.exc_info and record.exc_info[1] and unreachable(record.exc_info[1]))


def tracking_store(store_uri: str, artifact_uri: str | None = None) -> Any:
    """The `mlflow.tracking_store` entry point for a database URI."""
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    return _riding_store(_get_sqlalchemy_store, store_uri, artifact_uri=artifact_uri)


def registry_store(store_uri: str, tracking_uri: str | None = None) -> Any:
    """The `mlflow.model_registry_store` entry point for a database URI."""
    from mlflow.tracking._model_registry.utils import _get_sqlalchemy_store

    return _riding_store(_get_sqlalchemy_store, store_uri)
