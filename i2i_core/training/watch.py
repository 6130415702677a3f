"""Watching a run: tqdm's bar in a terminal, one printed line per log row elsewhere, and the
loggers named with ``--log``, registered for the run's event hooks.
"""
from __future__ import annotations

import contextlib
import sys
import time

from .. import plugins as registry
from ..errors import ConfigError


def progress(trainer):
    """A bar with tqdm's ``set_postfix``/``update`` calls. Where stderr is no terminal (a batch
    job, nohup) tqdm draws nothing until the run ends, so a line per log row replaces it."""
    from tqdm import tqdm

    if not trainer.world.main:
        return tqdm(disable=True)
    if sys.stderr.isatty():
        return tqdm(total=trainer.total_steps, initial=trainer.step, desc=trainer.recipe.name, unit="step",
                    dynamic_ncols=True)
    return Lines(trainer.recipe.name, trainer.step, trainer.total_steps)


class Lines:
    """``cyclegan step 100/800  3.12 steps/s  ETA 0:03:44  cycle 0.412  adversarial 0.31 ...`` on
    stderr, flushed, after each step whose row was logged; the rate is over the steps since the
    previous line."""

    def __init__(self, desc: str, initial: int, total: int):
        self.desc, self.n, self.total = desc, initial, total
        self.postfix: dict | None = None
        self.since = (time.monotonic(), initial)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def set_postfix(self, postfix: dict, refresh: bool = True) -> None:
        self.postfix = postfix

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.postfix is None:
            return
        now = time.monotonic()
        rate = (self.n - self.since[1]) / max(now - self.since[0], 1e-9)
        terms = "  ".join(f"{key} {value}" for key, value in self.postfix.items())
        print(f"{self.desc} step {self.n}/{self.total}  {rate:.2f} steps/s  "
              f"ETA {clock((self.total - self.n) / rate)}  {terms}", file=sys.stderr, flush=True)
        self.postfix, self.since = None, (now, self.n)


def clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def build_loggers(names) -> list:
    """One object per ``--log`` name, built before anything is written, so that an unknown name or
    a missing package ends the command at once."""
    table = registry.loggers()
    built = []
    for name in dict.fromkeys(names):  # a name given twice would write every event twice
        if name not in table:
            raise ConfigError(f"--log: unknown logger {name!r}; valid: {', '.join(sorted(table))}")
        try:
            built.append(table[name]())
        except ImportError as exc:
            raise ConfigError(f"--log {name} needs a package that is not installed: {exc}") from None
    return built


@contextlib.contextmanager
def attached(loggers: list):
    """Loggers take part in the event hooks of this run only."""
    manager = registry.plugin_manager()
    for logger in loggers:
        manager.register(logger)
    try:
        yield
    finally:
        for logger in loggers:
            manager.unregister(logger)
