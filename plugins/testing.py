"""Test support for loss plugins: a step to run a plugin's ``loss`` on, with no recipe, data or trainer.

    from i2i_plugins.testing import example_step

    step = example_step(MyPlugin())
    value = MyPlugin().loss(step, "G")

``example_step(plugin)`` gives a :class:`~i2i_core.step.Step` holding a random 2×3×16×16 image
(requiring gradients) for every name in ``plugin.reads()`` and a one-convolution judge for every
network in ``plugin.networks()``; i2i's registry tests run every registered plugin on it. A plugin
whose inputs need more than that registers its own example with ``@register_example(name)``:
i2i's ``patchnce`` (a generator with feature taps), ``content_adversarial`` (content codes and its
content discriminator), ``mode_seeking`` and ``divco`` (a recipe with a code-sampling Translator,
made by ``example_setup``) and ``r1`` (a recipe's discriminator, found by ``example_judged``) do so
below.

For plugins that generate through a recipe's Translator, ``example_setup(plugin)`` joins the
plugin to a recipe whose Translator runs ``CodeGenerator`` G(x, z) and encodes styles with
``CodeEncoder`` E(x) → (μ, log-variance), and returns a step on random images; the two networks
are small enough for tests on a CPU. This module is imported by tests only, never when i2i loads
its plugins.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from i2i_core.loss import LossPlugin
from i2i_core.recipe import NetSpec, Recipe, Translator
from i2i_core.step import Step

EXAMPLES: dict[str, Callable[[LossPlugin], Step]] = {}


def register_example(name: str):
    """Decorator: ``function(plugin) -> Step`` becomes the example step of the plugin named ``name``."""
    def register(function):
        EXAMPLES[name] = function
        return function
    return register


def example_step(plugin: LossPlugin) -> Step:
    """The registered example step for ``plugin.name``, or random images and tiny judges (see above)."""
    if plugin.name in EXAMPLES:
        return EXAMPLES[plugin.name](plugin)
    torch.manual_seed(0)
    batch = {name: torch.randn(2, 3, 16, 16, requires_grad=True) for name in plugin.reads()}
    nets = {name: TinyJudge() for name in plugin.networks()}
    return Step(batch, nets, {})


class TinyJudge(nn.Module):
    """A one-convolution discriminator whose input channels are set by the first call."""

    def __init__(self):
        super().__init__()
        self.conv = nn.LazyConv2d(1, 3)

    def forward(self, x):
        return self.conv(x)


# -- a code-conditioned generator and encoder, for plugins that generate through a Translator ----
class CodeGenerator(nn.Module):
    """tanh(conv3×3(cat[x, z tiled over the image]))."""

    def __init__(self, channels: int = 3, nz: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(channels + nz, channels, 3, padding=1)

    def forward(self, x, z):
        tiled = z.view(*z.shape, 1, 1).expand(-1, -1, *x.shape[2:])
        return torch.tanh(self.conv(torch.cat([x, tiled], 1)))


class CodeEncoder(nn.Module):
    """(μ, log-variance) from the channel means of a 3×3 conv."""

    def __init__(self, channels: int = 3, nz: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(channels, 8, 3, padding=1)
        self.mu = nn.Linear(8, nz)
        self.logvar = nn.Linear(8, nz)

    def forward(self, x):
        pooled = torch.relu(self.conv(x)).mean((2, 3))
        return self.mu(pooled), self.logvar(pooled)


def example_translator(nz: int = 4) -> Translator:
    """AtoB through G(x, z) with z ~ N(0, I) of size ``nz``; the style code of an image is E's μ."""
    return Translator(nets=("G", "E"), run=lambda nets, x, code: nets["G"](x, code),
                      sample_code=lambda n, generator, device: torch.randn(n, nz, generator=generator).to(device),
                      style_code=lambda nets, image: nets["E"](image)[0])


def example_setup(plugin: LossPlugin, nz: int = 4, size: int = 8) -> Step:
    """Join ``plugin`` to a recipe with the example Translator; a step on random 2×3×size² images."""
    torch.manual_seed(0)
    recipe = Recipe(name="example", translators={"AtoB": example_translator(nz)})
    recipe.add(plugin)
    nets = {"G": CodeGenerator(nz=nz), "E": CodeEncoder(nz=nz)}
    batch = {"real_A": torch.rand(2, 3, size, size).mul(2).sub(1).requires_grad_(),
             "real_B": torch.rand(2, 3, size, size).mul(2).sub(1).requires_grad_()}
    return Step(batch, nets, {}, translators=recipe.translator)


def example_judged(plugin: LossPlugin, condition: bool = False) -> Step:
    """Check ``plugin`` against a recipe whose GAN loss judges ``real_B`` against ``fake_B`` with
    a discriminator ``D`` (conditioned on ``real_A`` with ``condition``), so that a plugin finding
    its discriminators with ``recipe.judgements`` finds that one; a step on random 2×3×16×16 images
    with a one-convolution ``D``."""
    from i2i_plugins.adversarial import Adversarial

    torch.manual_seed(0)
    recipe = Recipe(name="example", nets={"D": NetSpec(kind="patchgan")})
    recipe.add(Adversarial(terms=[("D", "real_B", "fake_B")], condition="real_A" if condition else None))
    recipe.add(plugin)
    plugin.check(recipe)
    batch = {name: torch.randn(2, 3, 16, 16, requires_grad=True) for name in ("real_A", "real_B", "fake_B")}
    return Step(batch, {"D": TinyJudge()}, {})


# -- the built-in plugins whose inputs need more than random images ----------------------------
register_example("mode_seeking")(example_setup)
register_example("divco")(example_setup)
register_example("r1")(example_judged)


@register_example("patchnce")
def patchnce_example(plugin) -> Step:
    """A small CUT generator (it has feature taps) and random images; the projection heads built."""
    from i2i_core.nets import ResnetGenerator

    torch.manual_seed(0)
    if not plugin.pairs:
        plugin.pairs, plugin.identity_pairs = (("G", "real_A", "fake_B"),), (("G", "real_B", "idt_B"),)
    batch = {name: torch.randn(2, 3, 16, 16, requires_grad=True) for name in ("real_A", "fake_B", "real_B", "idt_B")}
    batch["flipped"] = torch.tensor(True)
    step = Step(batch, {"G": ResnetGenerator(ngf=4, n_blocks=1, antialias=True)}, {})
    plugin.materialize(step)
    return step


@register_example("content_adversarial")
def content_adversarial_example(plugin) -> Step:
    """Random 2×8×8×8 content codes and a content discriminator built for them."""
    torch.manual_seed(0)
    batch = {name: torch.randn(2, 8, 8, 8, requires_grad=True) for name in plugin.contents}
    step = Step(batch, {}, {})
    plugin.materialize(step)
    return step
