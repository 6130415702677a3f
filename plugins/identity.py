"""Identity mapping loss (Taigman et al. 2017; CycleGAN §5.2).

    L_idt(G, F) = E_y ‖G(y) − y‖₁ + E_x ‖F(x) − x‖₁

A generator fed an image of its own output domain should leave it unchanged. Default pairs:
(idt_B, real_B) with idt_B = G_AB(real_B), and (idt_A, real_A). The CycleGAN reference weighs
it λ_idt·λ = 0.5 × 10 = 5.
"""
from __future__ import annotations

import attrs

from ._pairs import PairsPlugin, _pairs, l1


def identity_loss(mapped, original):
    """‖G(y) − y‖₁, mean over all elements."""
    return l1(mapped, original)


@attrs.define(kw_only=True, eq=False)
class Identity(PairsPlugin):
    name = "identity"
    pairs: tuple = attrs.field(default=(("idt_B", "real_B"), ("idt_A", "real_A")), converter=_pairs)

    def distance(self, output, target):
        return identity_loss(output, target)
