"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class I2IError(ValueError):
    """Bad input from the user: a file, option, plugin or recipe at fault, named in the message."""

    def __str__(self) -> str:
        text = super().__str__()
        if text.startswith("Caught ") and "Original Traceback" in text:  # re-raised from a DataLoader worker
            last = text.rstrip().splitlines()[-1]  # "i2i_core.images.DataError: FILE: cannot read image (...)"
            return last.split(": ", 1)[-1]
        return text


class ConfigError(I2IError):
    """An unknown or invalid setting (``--set``, ``--add``, a CLI option)."""


class PluginError(I2IError):
    """A loss plugin that cannot join a recipe, or a broken plugin registration."""


class CheckpointError(I2IError):
    """A file that is not an i2i checkpoint, or one that would run code when loaded."""


class WriteError(I2IError):
    """A file that could not be written (a full disk, a read-only folder): the cause in one line."""


def message(exc: BaseException) -> str:
    """An exception's message on one line. attrs validators raise ValueError(message, attribute,
    ...), whose str() is the whole tuple; torch messages may run over several lines."""
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0]


def _kept(checkpoint) -> str:
    return f"; last good checkpoint kept at {checkpoint}" if checkpoint else "; no checkpoint was written before it"


class NonFiniteLoss(RuntimeError):
    """A plugin term went NaN or infinite: the CLI exits with status 3."""

    def __init__(self, key: str, step: int, checkpoint=None):
        super().__init__(f"non-finite loss from plugin term {key!r} at step {step}{_kept(checkpoint)}")
        self.key, self.step = key, step


class NonFiniteWeights(NonFiniteLoss):
    """Finite losses can still give NaN or infinite gradients; the weights are checked before each save."""

    def __init__(self, modules: list, step: int, checkpoint=None):
        RuntimeError.__init__(self, f"non-finite weights in {', '.join(modules)} at step {step} (a NaN or "
                                    f"infinite gradient from finite losses){_kept(checkpoint)}")
        self.key, self.step = modules[0], step


class Interrupted(RuntimeError):
    """SIGINT or SIGTERM stopped training after saving a checkpoint: the CLI exits with 128 + the signal."""

    def __init__(self, signum: int, path):
        import signal

        super().__init__(f"stopped by {signal.Signals(signum).name}; checkpoint saved to {path} (continue with --resume)")
        self.signum = signum
