"""R1 gradient penalty on real images (Mescheder, Geiger, Nowozin 2018), as CUT's SinCUT applies it.

    R1 = (γ/2) · mean_b Σ_{c,h,w} (∂ Σ_b' D(y)_b' / ∂y)²_{b,c,h,w}

Penalising D's gradient on real data keeps D from growing steep around the data manifold, which
stabilises non-saturating GAN training. The reference (the CUT code, models/sincut_model.py) uses
γ = 1 (coefficient 0.5) at every D step. ``interval`` k > 1 is i2i's own option: StyleGAN2's lazy
regularisation, computing the penalty on every k-th step only and scaling it by k so that its
average weight is unchanged. Dropped into any recipe, it penalises each discriminator the recipe
trains (``Recipe.judgements``), summed; for a conditional D(x, y) the gradient is taken with
respect to the image y only.
"""
from __future__ import annotations

import attrs
import torch
from attrs import validators as v

from i2i_core.errors import PluginError
from i2i_core.interfaces import Discriminator, require
from i2i_core.loss import Judgement, LossPlugin, summed


def r1_penalty(real_pred, real: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """(γ/2) · mean over samples of ‖∂ΣD(y)/∂y‖² for D's output ``real_pred`` on ``real``.

    ``real`` must require gradients and ``real_pred`` must come from it; the graph is kept
    (create_graph) so that the penalty back-propagates into D's parameters. A list of outputs
    (multi-scale D) is summed before differentiating.
    """
    preds = real_pred if isinstance(real_pred, (list, tuple)) else [real_pred]
    total = torch.stack([p.sum() for p in preds]).sum()
    (grad,) = torch.autograd.grad(total, real, create_graph=True)
    return gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()


@attrs.define(kw_only=True, eq=False)
class R1(LossPlugin):
    """R1 penalty on the real images of the recipe's discriminators (D role only).

    By default every discriminator the recipe trains is penalised on the real image it judges,
    with its condition beside it as the recipe calls it (pix2pix: ‖∂D(A, B)/∂B‖², the gradient
    with respect to the image only); ``discriminator`` picks one, ``real`` another real image.
    """

    name = "r1"
    roles = ("D",)

    gamma: float = attrs.field(default=1.0, converter=float, validator=v.ge(0.0))
    interval: int = attrs.field(default=1, converter=int, validator=v.ge(1))
    discriminator: str = ""  # "": every discriminator of the recipe
    real: str = ""  # "": the real image the recipe judges with it
    _judged: tuple = attrs.field(default=(), init=False, repr=False)  # found by check(recipe)

    def _judgements(self) -> tuple:
        if self._judged:
            return self._judged
        # a step made without a recipe (a unit test) needs both names
        return (Judgement(self.discriminator, self.real),) if self.discriminator and self.real else ()

    def reads(self):
        return tuple(name for j in self._judgements() for name in j.reads())

    def networks(self):
        return tuple(dict.fromkeys(j.discriminator for j in self._judgements()))

    def check(self, recipe):
        if self.real and self.real not in recipe.producible():
            raise PluginError(f"plugin {self.name!r} reads {self.real!r}, which recipe {recipe.name!r} does not produce")
        found = recipe.judgements(self.name, self.discriminator)
        # one penalty per real image a discriminator judges, however many fakes it compares it with
        self._judged = tuple(dict.fromkeys(Judgement(j.discriminator, self.real or j.real, condition=j.condition)
                                           for j in found))
        for disc in self.networks():
            require(self.name, recipe, disc, Discriminator)

    def input_gradients(self, index):
        return () if index % self.interval else tuple(j.key for j in self._judgements())

    def loss(self, step, role):
        judged = self._judgements()
        if not judged:
            raise PluginError("plugin 'r1' has no discriminator: it finds them when it joins a recipe, "
                              "or name both discriminator and real")
        if step.index % self.interval:
            return step[judged[0].real].new_zeros(())
        terms = []
        for judgement in judged:
            real, real_pred = judgement.judged_real(step, input_grad=True)  # shared with the adversarial loss
            terms.append(r1_penalty(real_pred, real, self.gamma))
        return self.interval * summed(terms)
