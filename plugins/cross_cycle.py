"""Cross-cycle consistency (DRIT, Lee et al. ECCV 2018, eq. 3).

Swap the attribute codes of x_A and x_B to translate (u = G_A(c_B, z_A), v = G_B(c_A, z_B)),
encode the translations again and swap back:

    L_cc = E ‖G_A(c_v, z_u) − x_A‖₁ + E ‖G_B(c_u, z_v) − x_B‖₁

with ‖·‖₁ the mean absolute error over every element; DRIT weighs it λ_cc = 10. Default pairs
are DRIT's product names: (rec_A, real_A_encoded), (rec_B, real_B_encoded), the cross-cycle
reconstructions of the half batch the codes were encoded from. Both pair members must have the
same shape (as for every pixel-distance plugin): a half batch compared with a full one would broadcast.
"""
from __future__ import annotations

import attrs
import torch

from ._pairs import PairsPlugin, _pairs, l1


def cross_cycle_loss(reconstruction: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """‖reconstruction − original‖₁, mean over all elements; the shapes must match."""
    return l1(reconstruction, original)


@attrs.define(kw_only=True, eq=False)
class CrossCycle(PairsPlugin):
    name = "cross_cycle"
    pairs: tuple = attrs.field(default=(("rec_A", "real_A_encoded"), ("rec_B", "real_B_encoded")),
                               converter=_pairs)

    def distance(self, output, target):
        return cross_cycle_loss(output, target)
