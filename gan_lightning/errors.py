"""The one exception type for bad user input: the CLI prints its message on one line."""


class UserError(Exception):
    """Bad input from the user (path, value, checkpoint); the message names the value and what is allowed."""
