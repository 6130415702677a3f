"""The former home of the trainer, kept so that scripts written for i2i 0.1 still run:
import from :mod:`i2i_core.training` instead."""
import warnings

from .training import Interrupted, NonFiniteLoss, NonFiniteWeights, Trainer, TrainOptions  # noqa: F401

warnings.warn("i2i_core.trainer is now i2i_core.training; import Trainer and TrainOptions from there",
              DeprecationWarning, stacklevel=2)
