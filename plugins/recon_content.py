"""Content (latent) reconstruction (MUNIT, Huang et al. 2018, §3.1 "latent reconstruction").

    L_recon^c = E ‖E_a^c(G_a(c_b, s_a)) − c_b‖₁ + E ‖E_b^c(G_b(c_a, s_b)) − c_a‖₁,   c_a = E_a^c(x_a), c_b = E_b^c(x_b)

A translation must keep the content of its source: re-encoding it gives the source's content
code back. The target is *not* detached, as in the reference: the gradient reaches both the
recovered code and the source's content encoder directly. Default pairs:
(content_B_recovered, content_B) and (content_A_recovered, content_A); MUNIT weighs the sum λ_c = 1.
"""
from __future__ import annotations

import attrs
import torch

from ._pairs import PairsPlugin, _pairs, l1


def content_reconstruction_loss(recovered: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """‖ĉ − c‖₁, mean over all elements, differentiable in both arguments; shapes must match."""
    return l1(recovered, content)


@attrs.define(kw_only=True, eq=False)
class ContentReconstruction(PairsPlugin):
    name = "recon_content"
    pairs: tuple = attrs.field(default=(("content_B_recovered", "content_B"),
                                        ("content_A_recovered", "content_A")), converter=_pairs)

    def distance(self, output, target):
        return content_reconstruction_loss(output, target)
