"""Mode-seeking regularisation (MSGAN, Mao, Lee, Tseng, Ma, Yang, CVPR 2019).

Two codes z₁, z₂ ~ N(0, I) for the same conditions c; with the batch-level means

    d_I = mean |G(c, z₂) − G(c, z₁)|      d_z = mean |z₂ − z₁|

the reference code (every MSGAN variant, DRIT++) minimises

    L_ms = 1 / (d_I / d_z + 1e-5)          (form="code", default; weight 1)

a ratio of means over the whole batch, not a mean of per-sample ratios, with ε on the ratio.
The paper maximises d_I / d_z itself; ``form="paper"`` minimises L_ms = −d_I / d_z. The two only
share their tendency (MSGAN issues #2, #17): the code form saturates at 0 as diversity grows,
the paper form is unbounded.

With ``images`` and ``codes`` (pairs of product names, e.g. ``[["fake_B", "fake_B2"]]`` and
``[["z", "z2"]]``) the plugin reads two images the recipe already generates from one condition.
Without them it generates its own pair through the recipe's Translator for ``direction``: two
prior codes per image of ``condition`` (``real_A`` for AtoB, ``real_B`` for BtoA), one batched
generator call. The recipe's other terms (its GAN) never see that pair; recipes that want a GAN on
both samples (MSGAN, DRIT++) produce them as products and name them here.
"""
from __future__ import annotations

import functools

import attrs
import torch
from attrs import validators as v

from i2i_core.errors import PluginError
from i2i_core.loss import LossPlugin, product_names

FORMS = ("code", "paper")


def mode_seeking_loss(image_1: torch.Tensor, image_2: torch.Tensor, code_1: torch.Tensor, code_2: torch.Tensor,
                      form: str = "code", eps: float = 1e-5) -> torch.Tensor:
    """The mode-seeking term of two images generated from the same conditions with two codes."""
    ratio = (image_2 - image_1).abs().mean() / (code_2 - code_1).abs().mean()
    if form == "code":
        return 1 / (ratio + eps)
    if form == "paper":
        return -ratio
    raise ValueError(f"unknown mode-seeking form {form!r}; valid: {', '.join(FORMS)}")


# A list of [first, second] name pairs; one flat pair of names is accepted too.
_name_pairs = functools.partial(product_names, arity=2, what="expected [first, second] product names")


def condition_for(direction: str, condition: str | None) -> str:
    return condition or ("real_A" if direction == "AtoB" else "real_B")


def translator_with_codes(plugin_name: str, recipe, direction: str):
    """The recipe's Translator for ``direction``, or a one-line PluginError when it samples no code."""
    if direction not in recipe.translators:
        raise PluginError(f"plugin {plugin_name!r} generates through the {direction} translator, which recipe "
                          f"{recipe.name!r} does not have (it has: {', '.join(recipe.translators)})")
    translator = recipe.translator(direction)
    if translator.sample_code is None:
        raise PluginError(f"plugin {plugin_name!r} needs a recipe that samples a latent code "
                          f"(a Translator with sample_code); {recipe.name!r} has none")
    return translator


def generate(step, translator, condition: torch.Tensor, codes: list) -> torch.Tensor:
    """The translator's output for ``condition`` repeated once per code batch, in one call."""
    nets = {name: step.net(name) for name in translator.nets}
    repeated = condition.repeat(len(codes), *([1] * (condition.dim() - 1)))
    return translator.run(nets, repeated, torch.cat(codes))


@attrs.define(kw_only=True, eq=False)
class ModeSeeking(LossPlugin):
    """MSGAN's term on named image/code pairs, or on a pair it generates through the Translator."""

    name = "mode_seeking"

    form: str = attrs.field(default="code", validator=v.in_(FORMS))
    eps: float = attrs.field(default=1e-5, converter=float, validator=v.gt(0.0))
    images: tuple = attrs.field(default=(), converter=_name_pairs)
    codes: tuple = attrs.field(default=(), converter=_name_pairs)
    direction: str = attrs.field(default="AtoB", validator=v.in_(["AtoB", "BtoA"]))
    condition: str | None = None

    def __attrs_post_init__(self):
        if len(self.images) != len(self.codes):
            raise ValueError(f"mode_seeking: {len(self.images)} image pairs but {len(self.codes)} code pairs; "
                             f"name one code pair per image pair, or neither to generate through the Translator")

    def reads(self):
        if self.images:
            return tuple(name for pairs in (self.images, self.codes) for pair in pairs for name in pair)
        return (condition_for(self.direction, self.condition),)

    def check(self, recipe):
        if len(self.images) != len(self.codes):
            raise PluginError(f"plugin {self.name!r}: {len(self.images)} image pairs but {len(self.codes)} code pairs")
        if not self.images:
            translator_with_codes(self.name, recipe, self.direction)

    def loss(self, step, role):
        if self.images:
            return torch.stack([mode_seeking_loss(step[i1], step[i2], step[z1], step[z2], self.form, self.eps)
                                for (i1, i2), (z1, z2) in zip(self.images, self.codes)]).sum()
        translator = step.translator(self.direction)  # check() made sure it samples codes
        condition = step[condition_for(self.direction, self.condition)]
        n, device = condition.shape[0], condition.device
        codes = [translator.sample_code(n, None, device) for _ in range(2)]
        image_1, image_2 = generate(step, translator, condition, codes).chunk(2)
        return mode_seeking_loss(image_1, image_2, codes[0], codes[1], self.form, self.eps)
