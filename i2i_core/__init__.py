"""i2i: image-to-image translation as plugins.

The core defines network interfaces, the per-step product namespace, the ``LossPlugin`` base,
``Recipe`` and the trainer; loss plugins and recipes arrive through pluggy hooks.
"""
__version__ = "0.2.0"

from .errors import CheckpointError, ConfigError, I2IError, PluginError  # noqa: E402
from .hooks import hookimpl  # noqa: E402
from .loss import Judgement, LossPlugin, product_names  # noqa: E402
from .recipe import (BuildOptions, DataSpec, NetSpec, OptimizerSpec, OptimSettings, Phase, Recipe,  # noqa: E402
                     RecipeFactory, Schedule, build_recipe, recipe)
from .step import Step  # noqa: E402

__all__ = ["__version__", "hookimpl", "LossPlugin", "Judgement", "product_names", "Step", "Recipe", "RecipeFactory", "recipe",
           "build_recipe", "BuildOptions", "DataSpec", "NetSpec", "OptimizerSpec", "OptimSettings", "Phase", "Schedule",
           "I2IError", "ConfigError", "PluginError", "CheckpointError"]
