"""Cycle consistency (Zhu et al. 2017, CycleGAN eq. 2).

    L_cyc(G, F) = E_x ‖F(G(x)) − x‖₁ + E_y ‖G(F(y)) − y‖₁

with ‖·‖₁ the mean absolute error over every element. Default pairs: (rec_A, real_A) and
(rec_B, real_B); the reference weighs each direction with λ_A = λ_B = 10.
"""
from __future__ import annotations

import attrs

from ._pairs import PairsPlugin, _pairs, l1


def cycle_loss(reconstruction, original):
    """‖reconstruction − original‖₁, mean over all elements."""
    return l1(reconstruction, original)


@attrs.define(kw_only=True, eq=False)
class Cycle(PairsPlugin):
    name = "cycle"
    pairs: tuple = attrs.field(default=(("rec_A", "real_A"), ("rec_B", "real_B")), converter=_pairs)

    def distance(self, output, target):
        return cycle_loss(output, target)
