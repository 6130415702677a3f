"""Content adversarial loss (DRIT, Lee et al. ECCV 2018, eq. 2; targets as the reference code sets them).

A content discriminator D_c tells domain A's content codes c_A from domain B's c_B; the content
encoders learn to make them indistinguishable. With BCE on σ(D_c(·)) (one logit per sample):

    L_{D_c} = BCE(σ(D_c(c_A)), 0) + BCE(σ(D_c(c_B)), 1)           (codes detached; A "fake", B "real")
    L_adv^c = BCE(σ(D_c(c_A)), ½) + BCE(σ(D_c(c_B)), ½)           (encoders; minimum ln 2 per term, at σ = ½)

The encoders' term pulls every code towards D_c's decision boundary rather than towards the other
label (the paper's ½ log D + ½ log(1 − D)). D_c gets no gradient from it (it is evaluated with
detached weights); its own term is the ``D_content`` role.

D_c (``ContentDiscriminator``, width 256 at the reference's 256-channel content) is this plugin's
own module, created from the first batch's content shape, with its own Adam added in ``setup``:
learning rate ×0.4 of the recipe's (DRIT: 1e-4 → 4e-5), gradient-norm clip 5, the recipe's
betas and weight decay (``optim.<instance>.lr_mult`` / ``.clip`` change them). Its ``D_content``
role joins the phase of that name, which the plugin puts first in the recipe when the recipe has
none (DRIT runs it every iteration: d_iter content-D-only iterations per full one). The BCE is
computed from logits, equal to the reference's σ-then-BCE except where that clamps log at −100.
"""
from __future__ import annotations

import functools
import math

import attrs
import torch
import torch.nn.functional as F
from attrs import validators as v

from i2i_core.errors import PluginError
from i2i_core.loss import LossPlugin, product_names
from i2i_core.nets.drit import DIS_NORMS, ContentDiscriminator
from i2i_core.recipe import OptimizerSpec

LN2 = math.log(2.0)


def content_discriminator_loss(logits_A: torch.Tensor, logits_B: torch.Tensor) -> torch.Tensor:
    """D_c's loss: BCE(σ(logits_A), 0) + BCE(σ(logits_B), 1), each a mean over samples."""
    return (F.binary_cross_entropy_with_logits(logits_A, torch.zeros_like(logits_A))
            + F.binary_cross_entropy_with_logits(logits_B, torch.ones_like(logits_B)))


def content_adversarial_loss(logits_A: torch.Tensor, logits_B: torch.Tensor) -> torch.Tensor:
    """The encoders' loss: BCE(σ(logits_A), ½) + BCE(σ(logits_B), ½); at least 2 ln 2."""
    half_A, half_B = torch.full_like(logits_A, 0.5), torch.full_like(logits_B, 0.5)
    return (F.binary_cross_entropy_with_logits(logits_A, half_A)
            + F.binary_cross_entropy_with_logits(logits_B, half_B))


@attrs.define(kw_only=True, eq=False)
class ContentAdversarial(LossPlugin):
    """DRIT's content discriminator and the encoders' term against it (roles ``G``, ``D_content``)."""

    name = "content_adversarial"
    roles = ("G", "D_content")

    contents: tuple = attrs.field(default=("content_A", "content_B"), converter=functools.partial(
        product_names, count=2, what="contents is [content of A, content of B] product names"))
    width: int | None = attrs.field(default=None, validator=v.optional(v.gt(0)))
    norm: str = attrs.field(default="none", validator=v.in_(DIS_NORMS))
    slope: float = attrs.field(default=0.01, converter=float, validator=v.ge(0.0))
    _discriminator: torch.nn.Module | None = attrs.field(default=None, init=False, repr=False)

    def reads(self):
        return self.contents

    def setup(self, recipe, instance):
        if instance not in recipe.optimizers:
            recipe.add_optimizer(OptimizerSpec(modules=[instance], lr_mult=0.4, clip=5.0), instance)
        recipe.add_phase(self.phase_of("D_content"), [instance], first=True)

    def check(self, recipe):
        if self.phase_of("D_content") == self.phase_of("G"):
            raise PluginError(f"plugin {self.name!r}: its D_content and G roles must join different phases")

    def materialize(self, step):
        content = step[self.contents[0]]
        channels = content.shape[1]
        self._discriminator = ContentDiscriminator(in_channels=channels, width=self.width or channels,
                                                   size=tuple(content.shape[2:]), norm=self.norm, slope=self.slope)

    def modules(self):
        return {"D": self._discriminator} if self._discriminator is not None else {}

    def _logits(self, contents, frozen: bool):
        net = self._discriminator
        if net is None:
            raise PluginError(f"plugin {self.name!r}: its content discriminator is built by materialize() "
                              f"from the first batch; call it before loss()")
        batch = torch.cat(contents)
        if frozen:  # the gradient reaches the codes, never D_c's weights
            weights = {name: p.detach() for name, p in net.named_parameters()}
            logits = torch.func.functional_call(net, weights, (batch,))
        else:
            logits = net(batch)
        return logits.split([c.shape[0] for c in contents])

    def loss(self, step, role):
        name_A, name_B = self.contents
        if role == "D_content":
            return content_discriminator_loss(*self._logits((step.detached(name_A), step.detached(name_B)), False))
        return content_adversarial_loss(*self._logits((step[name_A], step[name_B]), True))
