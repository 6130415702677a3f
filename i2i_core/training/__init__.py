"""Training: the loop (``loop``), its options, the log book (metrics rows, non-finite terms,
plots), the run state (checkpoint, random streams) and the runtime (device, precision, compile).

Inference (translate, eval) never imports this package.
"""
from ..errors import Interrupted, NonFiniteLoss, NonFiniteWeights
from .loop import Trainer, combine_terms
from .options import TrainOptions

__all__ = ["Trainer", "TrainOptions", "Interrupted", "NonFiniteLoss", "NonFiniteWeights", "combine_terms"]
