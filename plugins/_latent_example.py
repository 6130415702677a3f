"""A small code-conditioned generator and encoder, for the example steps of the latent-code plugins.

The registry tests run every plugin on an example step; ``mode_seeking`` and ``divco`` generate
through a recipe's Translator, so their example is a one-layer generator G(x, z) and an encoder E
whose μ is the ``style_code``, wrapped in a Recipe with that Translator.
"""
from __future__ import annotations

import torch
from torch import nn

from i2i_core.recipe import Recipe, Translator
from i2i_core.step import Step


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
    return Translator(nets=("G", "E"), run=lambda nets, x, code: nets["G"](x, code),
                      sample_code=lambda n, generator, device: torch.randn(n, nz, generator=generator).to(device),
                      style_code=lambda nets, image: nets["E"](image)[0])


def example_setup(plugin, nz: int = 4, size: int = 8) -> Step:
    """Join ``plugin`` to a recipe with the example Translator; a step on random 2×3×size² images."""
    torch.manual_seed(0)
    recipe = Recipe(name="example", translators={"AtoB": example_translator(nz)})
    recipe.add(plugin)
    nets = {"G": CodeGenerator(nz=nz), "E": CodeEncoder(nz=nz)}
    batch = {"real_A": torch.rand(2, 3, size, size).mul(2).sub(1).requires_grad_(),
             "real_B": torch.rand(2, 3, size, size).mul(2).sub(1).requires_grad_()}
    return Step(batch, nets, {})
