"""What a tracking server with authentication (or HTTPS) refuses, as one line that says how
to fix it.
Credentials come from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD or
~/.mlflow/credentials, read by MLflow itself; they never pass through this project."""

from __future__ import annotations

import re

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.utils.credentials import read_mlflow_creds

from titanic.errors import InputError

UNAUTHENTICATED = "UNAUTHENTICATED"
PERMISSION_DENIED = "PERMISSION_DENIED"
GRANT_COMMAND = "titanic-team-users grant"


def user() -> str | None:
    """Who this machine says it is to the tracking server, if anyone."""
    return read_mlflow_creds().username or None


def refused(err: BaseException, code: str) -> bool:
    return isinstance(err, MlflowException) and err.error_code == code


def refusal(err: BaseException) -> InputError | None:
    """The one line for a request the server turned away; None for any other error."""
    uri, who = mlflow.get_tracking_uri(), user()
    if isinstance(err, MlflowException) and "CERTIFICATE_VERIFY_FAILED" in str(err):
        return InputError(
            f"the certificate of the tracking server {uri} is not signed by a CA "
            f"this machine trusts: set MLFLOW_TRACKING_SERVER_CERT_PATH to the "
            f"team's CA file"
        )
    if refused(err, UNAUTHENTICATED):
        whom = f"the credentials of {who!r}" if who else "a request without credentials"
        return InputError(
            f"the tracking server {uri} refused {whom}: set "
            f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
            f"~/.mlflow/credentials) to your team account's"
        )
    if refused(err, PERMISSION_DENIED):
        endpoint = re.search(r"endpoint (\S+)", str(err))
        what = f" ({endpoint.group(1)})" if endpoint else ""
        return InputError(
            f"the tracking server {uri} does not let {who or 'anonymous'} do "
            f"this{what}: ask the team's admin for the permission "
            f"({GRANT_COMMAND} {who or '<user>'} member|maintainer)"
        )
    return None
