"""Within-domain image reconstruction (MUNIT, Huang et al. 2018, §3.1 "image reconstruction").

    L_recon^x = E_{x_a} ‖G_a(E_a^c(x_a), E_a^s(x_a)) − x_a‖₁ + E_{x_b} ‖G_b(E_b^c(x_b), E_b^s(x_b)) − x_b‖₁

Each domain's autoencoder must give its input back from its own content and style code. ‖·‖₁ is
the mean absolute error over every element. Default pairs: (self_recon_A, real_A) and
(self_recon_B, real_B); MUNIT weighs the sum λ_x = 10.
"""
from __future__ import annotations

import attrs
import torch

from ._pairs import PairsPlugin, _pairs, l1


def image_reconstruction_loss(reconstruction: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """‖x̂ − x‖₁, mean over all elements; the shapes must match (no broadcasting)."""
    return l1(reconstruction, image)


@attrs.define(kw_only=True, eq=False)
class ImageReconstruction(PairsPlugin):
    name = "recon_image"
    pairs: tuple = attrs.field(default=(("self_recon_A", "real_A"), ("self_recon_B", "real_B")), converter=_pairs)

    def distance(self, output, target):
        return image_reconstruction_loss(output, target)
