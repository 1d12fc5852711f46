"""The one kind of error the user is meant to read, and how a run records why it failed."""

from titanic.names import NOTE_TAG, TAG_ERROR


class InputError(Exception):
    """Bad input from the user: reported as one line that says how to fix it."""


def failure_tags(reason: str) -> dict[str, str]:
    """The tags that show why a run failed: `titanic.error`, and its description in the UI."""
    return {TAG_ERROR: reason, NOTE_TAG: f"**Failed**: {reason}"}
