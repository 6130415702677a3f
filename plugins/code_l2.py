"""L2 penalty on latent codes (DRIT, Lee et al. 2018: the content-code regulariser of its reference code).

For each named code c (a content map, or a deterministic attribute code):

    L_l2 = Σ_c mean(c²)

the mean over every element of the code, summed over the codes. DRIT adds it with weight 0.01 on
both content codes (as they leave the encoder, noise included); its feature-wise variant uses the
same penalty in place of the KL on its deterministic attribute codes. It pulls the codes towards
zero: it is twice the element-averaged KL of N(c, I) to N(0, I), and needs no log-variance.
"""
from __future__ import annotations

import functools

import attrs
import torch

from i2i_core.loss import LossPlugin, product_names, summed


def code_l2_loss(code: torch.Tensor) -> torch.Tensor:
    """mean(code²) over every element."""
    return code.pow(2).mean()


@attrs.define(kw_only=True, eq=False)
class CodeL2(LossPlugin):
    name = "code_l2"

    codes: tuple = attrs.field(default=("content_A", "content_B"), converter=functools.partial(
        product_names, what="codes is a list of product names"))

    def reads(self):
        return self.codes

    def loss(self, step, role):
        return summed(code_l2_loss(step[name]) for name in self.codes)
