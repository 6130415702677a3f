"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class I2IError(ValueError):
    """Bad input from the user: a file, option, plugin or recipe at fault, named in the message."""


class ConfigError(I2IError):
    """An unknown or invalid setting (``--set``, ``--add``, a CLI option)."""


class PluginError(I2IError):
    """A loss plugin that cannot join a recipe, or a broken plugin registration."""


class CheckpointError(I2IError):
    """A file that is not an i2i checkpoint, or one that would run code when loaded."""
