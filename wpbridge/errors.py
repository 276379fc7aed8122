"""Errors shared by the settings module and the modules that read parts of the settings
(routes, providers, shaping), and by the database helpers, kept apart so that none of them
imports another to raise one."""


class SettingsError(ValueError):
    """A setting has a value the bridge cannot use; the message names it and the fix."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be opened or upgraded; the message names the database (never its
    password) and what to check."""
