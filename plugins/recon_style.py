"""Style (latent) reconstruction (MUNIT, Huang et al. 2018, §3.1 "latent reconstruction").

    L_recon^s = E ‖E_a^s(G_a(c_b, s_a)) − s_a‖₁ + E ‖E_b^s(G_b(c_a, s_b)) − s_b‖₁,   s_a, s_b ~ N(0, I)

The target is the code sampled from the prior, not an encoded style: the style encoder must
recover a random style from the image rendered with it, which is what makes the decoder use the
code (and the model multimodal). The prior code is a constant, so only the recovered side gets a
gradient (the style encoder, and through the generated image the decoder, its MLP and the other
domain's content encoder). Default pairs: (style_prior_A_recovered, style_prior_A) and
(style_prior_B_recovered, style_prior_B); MUNIT weighs the sum λ_s = 1.
"""
from __future__ import annotations

import attrs
import torch

from ._pairs import PairsPlugin, _pairs, l1


def style_reconstruction_loss(recovered: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """‖ŝ − s‖₁, mean over all elements; the shapes must match, so (B, 8) against (B, 8, 1, 1)
    fails instead of broadcasting to a B×8×B×8 difference."""
    return l1(recovered, prior)


@attrs.define(kw_only=True, eq=False)
class StyleReconstruction(PairsPlugin):
    name = "recon_style"
    pairs: tuple = attrs.field(default=(("style_prior_A_recovered", "style_prior_A"),
                                        ("style_prior_B_recovered", "style_prior_B")), converter=_pairs)

    def distance(self, output, target):
        return style_reconstruction_loss(output, target)
