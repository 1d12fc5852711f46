"""The one kind of error the user is meant to read."""


class InputError(Exception):
    """Bad input from the user: reported as one line that says how to fix it."""
