"""The team's users and what each may do, on a team server (titanic-team-server).

    titanic-team-users add alice member         # asks for alice's password
    titanic-team-users grant alice maintainer   # another role
    titanic-team-users password alice           # asks for a new password
    titanic-team-users show alice

Roles, for the team's experiment and its registered model:
    reader       reads everything (runs, the leaderboard, models:/titanic@champion)
    member       a reader who may also run main, sweep and tune in the experiment
    maintainer   a member who may also promote: register versions and move `champion`
    admin        all of it, and manages users

Runs as an admin: MLFLOW_TRACKING_URI names the server; MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD (or ~/.mlflow/credentials) the admin. A password is typed at the
prompt, or piped in on standard input, never given on the command line.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import warnings

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

with warnings.catch_warnings():  # the server's web stack, imported along: not ours to fix
    warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
    from mlflow.server.auth.client import AuthServiceClient

from orchestration.team.access import refusal
from orchestration.team.server import MIN_PASSWORD
from titanic.errors import InputError

ROLES = ("reader", "member", "maintainer", "admin")
EDIT = "EDIT"
MODEL_DESCRIPTION = "Titanic survival models; `champion` is the best promoted one."


def read_password(user: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {user}: ")
        if getpass.getpass("again: ") != first:
            raise InputError("the two passwords differ: run the command again")
    else:
        first = sys.stdin.readline().rstrip("\n")
    if len(first) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters (MLflow's rule)")
    return first


def team_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, created by the admin if new (so no member owns it)."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


def team_model(client: MlflowClient, name: str) -> None:
    """The registered model, created by the admin if new: a member who created it would
    manage it, and could make any model the champion."""
    try:
        client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(name, description=MODEL_DESCRIPTION)


def grant(auth: AuthServiceClient, user: str, role: str, experiment: str, model: str) -> None:
    """Make `role` the user's permissions on the team's experiment and registered model."""
    client = MlflowClient()
    experiment_id = team_experiment(client, experiment)
    team_model(client, model)
    auth.update_user_admin(user, role == "admin")
    wanted = {
        ("experiment", experiment_id): role in ("member", "maintainer", "admin"),
        ("registered_model", model): role in ("maintainer", "admin"),
    }
    for (kind, resource), edit in wanted.items():
        try:  # whatever the user held there before goes: the role says it all
            auth.revoke_user_permission(user, kind, resource)
        except MlflowException as err:
            if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        if edit:
            auth.grant_user_permission(user, kind, resource, EDIT)


def add(
    auth: AuthServiceClient, user: str, password: str, role: str, experiment: str, model: str
) -> None:
    """A new account with `role` on the team's experiment and registered model."""
    try:
        auth.create_user(user, password)
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        raise InputError(
            f"user {user} exists already: use `grant` to change the role or "
            f"`password` to reset the password"
        ) from None
    grant(auth, user, role, experiment, model)


def show(auth: AuthServiceClient, user: str, experiment: str, model: str) -> str:
    found = auth.get_user(user)
    client = MlflowClient()
    lines = [f"{user}: {'admin' if found.is_admin else 'not admin'}"]
    where = {"experiment": team_experiment(client, experiment), "registered_model": model}
    for kind, resource in where.items():
        permission = auth.get_user_permission(user, kind, resource)
        lines.append(f"  {kind} {resource}: {permission.permission}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    parser.add_argument("action", choices=("add", "grant", "password", "show"))
    parser.add_argument("user")
    parser.add_argument("role", nargs="?", choices=ROLES)
    parser.add_argument("--experiment", default=os.environ.get("MLFLOW_EXPERIMENT_NAME", "Default"))
    parser.add_argument("--registered_model", default="titanic")
    args = parser.parse_args()
    auth = AuthServiceClient(mlflow.get_tracking_uri())
    try:
        if args.action in ("add", "grant") and args.role is None:
            raise InputError(f"{args.action} needs a role: one of {', '.join(ROLES)}")
        if args.action in ("add", "grant"):
            if args.action == "add":
                add(
                    auth,
                    args.user,
                    read_password(args.user),
                    args.role,
                    args.experiment,
                    args.registered_model,
                )
            else:
                grant(auth, args.user, args.role, args.experiment, args.registered_model)
            print(
                f"{args.user} is a {args.role} of experiment {args.experiment!r} and "
                f"registered model {args.registered_model!r}"
            )
        elif args.action == "password":
            auth.update_user_password(args.user, read_password(args.user))
            print(f"password of {args.user} changed")
        else:
            print(show(auth, args.user, args.experiment, args.registered_model))
    except InputError as err:
        sys.exit(f"titanic: error: {err}")
    except MlflowException as err:
        known = refusal(err)
        if known is not None:
            sys.exit(f"titanic: error: {known}")
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            sys.exit(f"titanic: error: no user {args.user}: `add` them first")
        if err.error_code == "INVALID_PARAMETER_VALUE":
            sys.exit(f"titanic: error: the server refused it: {err.message}")
        raise


if __name__ == "__main__":
    main()
