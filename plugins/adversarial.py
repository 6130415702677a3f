"""Adversarial loss (Goodfellow et al. 2014; LSGAN, Mao et al. 2017; hinge, Lim & Ye 2017).

With D's logits ``d`` (one map, or a list of maps for multi-scale discriminators, summed over
scales), real images ``y`` and generated images ``ŷ``:

    lsgan:          L_D = mean((d(y) − 1)²) + mean(d(ŷ)²)             L_G = mean((d(ŷ) − 1)²)
    vanilla:        L_D = mean(softplus(−d(y))) + mean(softplus(d(ŷ)))  L_G = mean(softplus(−d(ŷ)))
    nonsaturating:  as vanilla, each mean taken per sample, then over the batch
    hinge:          L_D = mean(relu(1 − d(y))) + mean(relu(1 + d(ŷ)))  L_G = −mean(d(ŷ))

The generator term is the "real" criterion applied to d(ŷ), so ``vanilla`` is the
non-saturating −log σ(d) form, as in the references. The plugin multiplies L_D by ``d_factor``
(0.5: pix2pix's "halve the D objective", kept by CycleGAN and CUT). Hinge is not in the
references; it is i2i's own addition. With ``condition`` set, D sees ``cat([condition, image])``
on channels (pix2pix's conditional discriminator). Each term's discriminator, real image, fake and
condition are declared as a ``Judgement`` for plugins dropped in to work on D (R1).
"""
from __future__ import annotations

import functools

import attrs
import torch
import torch.nn.functional as F
from attrs import validators as v

from i2i_core.errors import PluginError
from i2i_core.interfaces import Discriminator, require
from i2i_core.loss import Judgement, LossPlugin, product_names, summed

MODES = ("lsgan", "vanilla", "nonsaturating", "hinge")


def _maps(pred):
    return list(pred) if isinstance(pred, (list, tuple)) else [pred]


def _criterion(d: torch.Tensor, real: bool, mode: str) -> torch.Tensor:
    if mode == "lsgan":
        return ((d - 1) ** 2).mean() if real else (d ** 2).mean()
    if mode == "vanilla":
        return F.softplus(-d).mean() if real else F.softplus(d).mean()
    if mode == "nonsaturating":
        per_sample = (F.softplus(-d) if real else F.softplus(d)).flatten(1).mean(1)
        return per_sample.mean()
    if mode == "hinge":
        return F.relu(1 - d).mean() if real else F.relu(1 + d).mean()
    raise ValueError(f"unknown adversarial mode {mode!r}; valid: {', '.join(MODES)}")


def discriminator_loss(real_pred, fake_pred, mode: str = "lsgan") -> torch.Tensor:
    """L_D for D's outputs on real and on generated images (maps or lists of maps), summed over scales."""
    real_terms = [_criterion(d, True, mode) for d in _maps(real_pred)]
    fake_terms = [_criterion(d, False, mode) for d in _maps(fake_pred)]
    return summed(real_terms) + summed(fake_terms)


def generator_loss(fake_pred, mode: str = "lsgan") -> torch.Tensor:
    """L_G for D's outputs on generated images (a map or a list of maps), summed over scales."""
    if mode == "hinge":
        return summed(-d.mean() for d in _maps(fake_pred))
    return summed(_criterion(d, True, mode) for d in _maps(fake_pred))


_terms = functools.partial(product_names, arity=(3, 4), what="each term is [discriminator, real, fake] or "
                           "[discriminator, real, fake, fake_for_D]")


@attrs.define(kw_only=True, eq=False)
class Adversarial(LossPlugin):
    """GAN loss over one or more (discriminator, real, fake[, fake_for_D]) terms, summed.

    ``fake_for_D`` names what D learns from (CycleGAN's image-pool output); it defaults to the
    fake itself, detached. The D role joins phase ``D`` and the G role phase ``G`` by default.
    """

    name = "adversarial"
    roles = ("G", "D")

    mode: str = attrs.field(default="lsgan", validator=v.in_(MODES))
    terms: tuple = attrs.field(default=(("D_B", "real_B", "fake_B"),), converter=_terms)
    condition: str | None = None
    d_factor: float = attrs.field(default=0.5, converter=float, validator=v.ge(0.0))

    def reads(self):
        names = [name for t in self.terms for name in t[1:]]
        return tuple(names + ([self.condition] if self.condition else []))

    def networks(self):
        return tuple(t[0] for t in self.terms)

    def judgements(self):
        # what D learns to reject is the pooled fake where a term names one
        return tuple(Judgement(disc, real, (pooled or [fake])[0], self.condition or None)
                     for disc, real, fake, *pooled in self.terms)

    def check(self, recipe):
        if not self.terms:
            raise PluginError("plugin 'adversarial' has no terms")
        for disc, *_ in self.terms:
            require(self.name, recipe, disc, Discriminator)

    def _judge(self, step, disc: str, image, detach_condition: bool):
        if self.condition:
            cond = step.detached(self.condition) if detach_condition else step[self.condition]
            image = torch.cat([cond, image], dim=1)
        return step.net(disc)(image)

    def loss(self, step, role):
        total = []
        for disc, real, fake, *pooled in self.terms:
            if role == "G":
                total.append(generator_loss(self._judge(step, disc, step[fake], False), self.mode))
            else:
                fake_for_d = step.detached(pooled[0] if pooled else fake)
                # shared within the phase: with R1, and between terms on one D (MSGAN's two fakes)
                _, real_pred = step.judged(disc, real, self.condition)
                fake_pred = self._judge(step, disc, fake_for_d, True)
                total.append(self.d_factor * discriminator_loss(real_pred, fake_pred, self.mode))
        return summed(total)
