"""Paired reconstruction loss (pix2pix, Isola et al. 2017, eq. 3).

    L_L1(G) = E_{x,y} ‖y − G(x)‖₁

For aligned data only: the translation is compared with the true target. Default pair
(fake_B, real_B); pix2pix weighs it λ = 100.
"""
from __future__ import annotations

import attrs

from ._pairs import PairsPlugin, _pairs, l1


def paired_l1_loss(translation, target):
    """‖target − translation‖₁, mean over all elements."""
    return l1(translation, target)


@attrs.define(kw_only=True, eq=False)
class PairedL1(PairsPlugin):
    name = "paired_l1"
    pairs: tuple = attrs.field(default=(("fake_B", "real_B"),), converter=_pairs)

    def distance(self, output, target):
        return paired_l1_loss(output, target)
