"""Errors shared by the settings module and the modules that read parts of the settings
(routes, providers, shaping), kept apart so that none of them imports another to raise one."""


class SettingsError(ValueError):
    """A setting has a value the bridge cannot use; the message names it and the fix."""
