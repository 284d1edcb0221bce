"""Errors that the command line turns into one clear line on stderr and exit code 2."""


class UserError(Exception):
    """Bad input from the user: an unknown name, a wrong value, an unusable path or file."""
