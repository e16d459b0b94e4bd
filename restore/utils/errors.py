"""Errors the user can act on: their message names the file or config key and what to do."""


class RestoreError(Exception):
    """Base of errors shown to the user without a stack trace."""


class ConfigError(RestoreError, ValueError):
    """A config value that cannot work; the message names the key."""


class DataError(RestoreError, ValueError):
    """Bad input data; the message names the path and what to do about it."""


class TrainingDiverged(RestoreError):
    """The loss became non-finite; the message names the step, the learning rate, what to try."""


class Interrupted(RestoreError):
    """The run was signalled to stop (SIGTERM, SIGUSR1) and saved what it had; ``exit_code`` is
    128 + the signal number, as a shell reports a process ended by that signal."""

    def __init__(self, message: str, exit_code: int = 143):
        super().__init__(message)
        self.exit_code = exit_code
