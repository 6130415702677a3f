"""Shared shape of the pixel-distance plugins: a list of (output, target) name pairs, L1 summed."""
from __future__ import annotations

import functools

import attrs
import torch

from i2i_core.loss import LossPlugin, product_names, summed


def l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean |output − target| over every element (PyTorch's ``L1Loss`` with mean reduction).

    The shapes must match: a half batch against a full one, or a (B, 8) code against a
    (B, 8, 1, 1) one, would otherwise broadcast to a larger difference and a wrong mean."""
    if output.shape != target.shape:
        raise ValueError(f"L1 compares tensors of one shape, but {tuple(output.shape)} and {tuple(target.shape)} "
                         f"differ in shape (no broadcasting)")
    return (output - target).abs().mean()


_pairs = functools.partial(product_names, arity=2, what="each pair is [output, target] product names")


@attrs.define(kw_only=True, eq=False)
class PairsPlugin(LossPlugin):
    """Base for plugins summing ``distance(step[output], step[target])`` over name pairs."""

    pairs: tuple = attrs.field(default=(), converter=_pairs)

    def distance(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reads(self):
        return tuple(name for pair in self.pairs for name in pair)

    def loss(self, step, role):
        return summed(self.distance(step[out], step[target]) for out, target in self.pairs)
