"""Errors that end a command with one readable line instead of a traceback.

The CLI catches :class:`AllsangError`, prints ``str(error)`` and exits with ``exit_code``.
Messages say what is wrong *and* what to do about it.
"""


class AllsangError(Exception):
    exit_code = 1


class ConfigurationError(AllsangError):
    """A setting is missing, malformed or contradicts another."""

    exit_code = 2


class DatabaseError(AllsangError):
    """The database cannot be reached, or its schema does not fit this version."""

    exit_code = 3


class SecretKeyError(AllsangError):
    """The secret keys are missing, malformed, or do not open what the database holds."""

    exit_code = 4
