"""Errors the user can act on: their message names the file or config key and what to do."""


class RestoreError(Exception):
    """Base of errors shown to the user without a stack trace."""


class ConfigError(RestoreError, ValueError):
    """A config value that cannot work; the message names the key."""


class DataError(RestoreError, ValueError):
    """Bad input data; the message names the path and what to do about it."""
