"""R1 gradient penalty on real images (Mescheder, Geiger, Nowozin 2018), as CUT's SinCUT applies it.

    R1 = (γ/2) · mean_b Σ_{c,h,w} (∂ Σ_b' D(y)_b' / ∂y)²_{b,c,h,w}

Penalising D's gradient on real data keeps D from growing steep around the data manifold, which
stabilises non-saturating GAN training. The reference (the CUT code, models/sincut_model.py) uses
γ = 1 (coefficient 0.5) at every D step. ``interval`` k > 1 is i2i's own option: StyleGAN2's lazy
regularisation, computing the penalty on every k-th step only and scaling it by k so that its
average weight is unchanged.
"""
from __future__ import annotations

import attrs
import torch
from attrs import validators as v

from i2i_core.interfaces import Discriminator, require
from i2i_core.loss import LossPlugin


def r1_penalty(real_pred, real: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """(γ/2) · mean over samples of ‖∂ΣD(y)/∂y‖² for D's output ``real_pred`` on ``real``.

    ``real`` must require gradients and ``real_pred`` must come from it; the graph is kept
    (create_graph) so that the penalty back-propagates into D's parameters. A list of outputs
    (multi-scale D) is summed before differentiating.
    """
    preds = real_pred if isinstance(real_pred, (list, tuple)) else [real_pred]
    total = torch.stack([p.sum() for p in preds]).sum()
    (grad,) = torch.autograd.grad(total, real, create_graph=True)
    return gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()


@attrs.define(kw_only=True, eq=False)
class R1(LossPlugin):
    """R1 penalty of discriminator ``discriminator`` on the real images ``real`` (D role only)."""

    name = "r1"
    roles = ("D",)

    gamma: float = attrs.field(default=1.0, converter=float, validator=v.ge(0.0))
    interval: int = attrs.field(default=1, converter=int, validator=v.ge(1))
    discriminator: str = "D_B"
    real: str = "real_B"

    def reads(self):
        return (self.real,)

    def networks(self):
        return (self.discriminator,)

    def check(self, recipe):
        require(self.name, recipe, self.discriminator, Discriminator)

    def input_gradients(self, index):
        return () if index % self.interval else ((self.discriminator, self.real, None),)

    def loss(self, step, role):
        if step.index % self.interval:
            return step[self.real].new_zeros(())
        real, real_pred = step.judged(self.discriminator, self.real, input_grad=True)  # shared with the adversarial loss
        return self.interval * r1_penalty(real_pred, real, self.gamma)
