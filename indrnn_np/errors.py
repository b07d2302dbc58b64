"""The base of every error a user can cause and fix: the command line prints it as one line, exit 2.

Library callers catch the specific classes (``ConfigError``, ``RunDirError``,
``DataError``, ``CudaUnavailableError``, ...); the command line catches this
base, so a new kind of user error needs no change there.
"""


class UserError(Exception):
    """A bad option, file, folder or environment: the message says what and how to fix it."""
