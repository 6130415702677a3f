"""Metrics of ``i2i eval``, all computed offline; each module cites the paper that defines its metric.

Built-in ids (registered through the ``i2i_metrics`` hook, see ``registry.py``):
``fid kid is lpips fd ndb jsd swd prdc l1 psnr ssim ms_ssim``. Feature spaces in ``features.py``
(``pixel16``, ``rand@SEED`` need no weights; ``inception`` needs the user's file); the weight-file
rules in ``weights.py``. The oracle scores of the demo domains live in ``i2i_core.oracle``.
"""
# Modules share their main function's name (kid.kid, swd.swd, prdc.prdc): import the modules, so
# that ``from i2i_core.metrics import kid`` gives the module.
from . import frechet, kid, ndb, paired, prdc, swd  # noqa: F401
from .errors import TooFewSamples
from .features import FeatureSpace, feature_space
from .registry import ImageSets, Metric, builtin_metrics, registered

__all__ = ["frechet", "kid", "ndb", "paired", "prdc", "swd", "TooFewSamples", "FeatureSpace", "feature_space",
           "ImageSets", "Metric", "builtin_metrics", "registered"]
