"""Gaussian KL divergence of an encoder's posterior to the prior (Kingma & Welling 2014, appendix B).

For an encoder output N(μ, diag(e^{lv})) (``lv`` the log-variance) and the prior N(0, I):

    KL = −½ Σ (1 + lv − μ² − e^{lv})

summed over the code's dimensions and, with ``reduction="sum"``, over the batch too, as
BicycleGAN and DRIT compute it (weight 0.01 in both); ``reduction="mean"`` divides by the
number of elements instead. ``pairs`` lists several (μ, log-variance) product pairs (DRIT's two
attribute encoders); their terms are summed.
"""
from __future__ import annotations

import functools

import attrs
import torch
from attrs import validators as v

from i2i_core.errors import ConfigError
from i2i_core.loss import LossPlugin, product_names

REDUCTIONS = ("sum", "mean")


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, I)), summed over every element or averaged over them."""
    elementwise = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    if reduction == "sum":
        return elementwise.sum()
    if reduction == "mean":
        return elementwise.mean()
    raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")


@attrs.define(kw_only=True, eq=False)
class KL(LossPlugin):
    """KL of the (``mu``, ``logvar``) products to N(0, I); ``pairs``, when given, replaces them."""

    name = "kl"

    mu: str = "mu"
    logvar: str = "logvar"
    pairs: tuple = attrs.field(default=(), converter=functools.partial(
        product_names, arity=2, what="each pair is [mu, logvar] product names"))
    reduction: str = attrs.field(default="sum", validator=v.in_(REDUCTIONS))

    def _pairs(self):
        return self.pairs or ((self.mu, self.logvar),)

    def reads(self):
        return tuple(name for pair in self._pairs() for name in pair)

    def loss(self, step, role):
        for _, logvar in self._pairs():
            if step[logvar] is None:
                raise ConfigError(f"{self.name}: product {logvar!r} is None, its encoder is deterministic (no "
                                  f"log-variance); set {self.name}.weight=0 and penalise the code with code_l2 "
                                  f"(drit: attribute_l2.weight)")
        return torch.stack([kl_to_standard_normal(step[mu], step[logvar], self.reduction)
                            for mu, logvar in self._pairs()]).sum()
