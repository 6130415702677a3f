"""Total-variation loss plugin for i2i: penalises differences between neighbouring pixels.

Anisotropic total variation of an image x (N×C×H×W, or any ...×H×W, with H, W ≥ 2):

    TV(x) = mean |x[..., i+1, j] − x[..., i, j]| + mean |x[..., i, j+1] − x[..., i, j]|

each mean taken over every vertical (resp. horizontal) neighbour pair. The plugin sums TV over
the products named in ``images`` (default: the translation ``fake_B``) in the generator phase.
"""
from __future__ import annotations

import functools

import attrs
import torch

from i2i_core import LossPlugin, hookimpl, product_names


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """TV(x) = mean |x[..., i+1, j] − x[..., i, j]| + mean |x[..., i, j+1] − x[..., i, j]|."""
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return vertical + horizontal


@attrs.define(kw_only=True, eq=False)
class TotalVariation(LossPlugin):
    """Σ over ``images`` of TV(step[name]); the G role only, so it trains the generators."""

    name = "tv"

    # A converter, not a validator, so a bad --add value fails with this message alone.
    images: tuple = attrs.field(default=("fake_B",), converter=functools.partial(
        product_names, what='images is a non-empty list of product names such as ["fake_B"]'))

    def reads(self):
        # The recipe checks these names when it is built, so a typo fails before training.
        return self.images

    def loss(self, step, role):
        return torch.stack([total_variation(step[name]) for name in self.images]).sum()


@hookimpl
def i2i_losses():
    return [TotalVariation]
