"""The i2i hook specifications: every way a plugin can extend i2i, one documented function each.

A plugin is any module or object with functions decorated by :data:`hookimpl` and named like the
specifications below. Distributions publish one through the ``i2i`` entry-point group; the
built-ins register through that very group (see ``pyproject.toml``).
"""
from __future__ import annotations

import pluggy

PROJECT = "i2i"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration hooks: each returns the things it adds --------------------------------------

@hookspec
def i2i_losses():
    """Return a list of :class:`i2i_core.loss.LossPlugin` subclasses, each with a unique ``name``."""


@hookspec
def i2i_recipes():
    """Return a list of :class:`i2i_core.recipe.RecipeFactory` objects (see the ``recipe`` decorator)."""


@hookspec
def i2i_networks():
    """Return a dict mapping a network kind (used in ``nets.<NAME>.kind``) to a factory callable."""


@hookspec
def i2i_metrics():
    """Return a dict mapping a metric id (used by ``i2i eval --metrics``) to one of: a
    :class:`i2i_core.metrics.Metric` instance, a ``Metric`` subclass (instantiated with no arguments),
    or a plain callable ``fn(real, fake) -> float | dict`` on float N×3×H×W images in [0, 1], run only
    when ``--metrics`` names it. See ``i2i_core/metrics/registry.py`` for the ``Metric`` protocol."""


@hookspec
def i2i_loggers():
    """Return a dict mapping a logger name (used in ``i2i train --log NAME``) to a class or factory
    called with no arguments. For a run given ``--log NAME``, the trainer builds one object before
    anything is written and registers it for the run's event hooks below (on rank 0 only); an
    ``ImportError`` while building it ends the command with one line naming ``--log NAME``."""


# --- event hooks: called by the trainer --------------------------------------------------------

@hookspec
def i2i_train_start(trainer):
    """Called once after the networks, optimisers and any resumed state are ready."""


@hookspec
def i2i_step_end(trainer, step: int, logged: dict | None):
    """Called after every training step; ``logged`` is the metrics row when this step was logged, else None."""


@hookspec
def i2i_samples_saved(trainer, step: int, path):
    """Called after a grid of sample translations (input | output | reconstruction rows) has been
    written to ``path``, a PNG."""


@hookspec
def i2i_checkpoint_saved(trainer, path):
    """Called after a checkpoint has been written atomically to ``path``."""


@hookspec
def i2i_checkpoint_loaded(trainer, path):
    """Called after a checkpoint at ``path`` has been restored into ``trainer``."""


@hookspec
def i2i_train_end(trainer, status: str):
    """Called when training stops; ``status`` is ``"done"``, ``"interrupted"`` or ``"nonfinite"``."""
