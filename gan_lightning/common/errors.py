"""The one exception type for bad user input: the CLI prints its message on one line."""


class UserError(ValueError):
    """Bad input from the user (path, value, checkpoint, option); the message names the value and what
    is allowed. Any layer may raise it; only the command line formats it. A ValueError, so code that
    builds networks directly can catch bad arguments the usual way. Other exceptions are bugs and keep
    their traceback."""
