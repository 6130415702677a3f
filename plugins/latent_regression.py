"""Latent regression: recover the code from the image it generated (BicycleGAN's cLR-GAN, Zhu et al. 2017).

    L_latent = E_{A, z ~ N(0, I)} ‖z − E(G(A, z))‖₁    (mean over the code's elements)

BicycleGAN compares z with the *mean* μ of E's posterior (λ_z = 0.5) and freezes E for this term
only: its recipe sets ``detach_from=["E"]``, so E receives no gradient from it while the
gradient still flows through E into G (the maintainers: letting E and G co-adapt on this term
lets them hide the code instead of learning modes). DRIT uses it with weight 10. ``pairs`` lists
several (recovered, code) product pairs (DRIT's two directions); their terms are summed.
"""
from __future__ import annotations

import attrs

from i2i_core.loss import summed

from ._pairs import PairsPlugin, l1


def latent_regression_loss(recovered, code):
    """mean |recovered − code| over every element."""
    return l1(recovered, code)


@attrs.define(kw_only=True, eq=False)
class LatentRegression(PairsPlugin):
    """L1 between the code ``code`` and ``recovered``, the encoder's estimate of it from the output."""

    name = "latent_regression"

    code: str = "z"
    recovered: str = "z_recovered"

    def _pairs(self):
        return self.pairs or ((self.recovered, self.code),)

    def reads(self):
        return tuple(name for pair in self._pairs() for name in pair)

    def distance(self, output, target):
        return latent_regression_loss(output, target)

    def loss(self, step, role):
        return summed(self.distance(step[recovered], step[code]) for recovered, code in self._pairs())
