"""PatchGAN discriminator (Isola et al. 2017, §3.2.2; the CycleGAN reference code's ``NLayerDiscriminator``,
models/networks.py)."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import Downsample, conv_bias_for, norm_layer


class PatchGAN(nn.Module):
    """``n_layers`` halving blocks, one stride-1 block, then a 1-channel 4×4 conv → logit map.

    Channels grow as ndf·min(2^n, 8). With ``antialias`` every stride-2 conv becomes a stride-1
    conv followed (after norm and LeakyReLU) by a blur Downsample, as in CUT. The first and the
    last conv always have a bias; the others follow the norm bias rule.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 antialias: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchGAN needs n_layers >= 1 (got {n_layers})")
        bias = conv_bias_for(norm)
        halving_stride = 1 if antialias else 2

        def halving(c_in: int, c_out: int, normed: bool) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 4, stride=halving_stride, padding=1, bias=bias or not normed)
            block = [conv] + ([norm_layer(norm, c_out)] if normed else []) + [nn.LeakyReLU(0.2)]
            return block + ([Downsample(c_out)] if antialias else [])

        layers = halving(in_channels, ndf, normed=False)
        width = ndf
        for n in range(1, n_layers):
            next_width = ndf * min(2**n, 8)
            layers += halving(width, next_width, normed=True)
            width = next_width
        last_width = ndf * min(2**n_layers, 8)
        layers += [nn.Conv2d(width, last_width, 4, stride=1, padding=1, bias=bias),
                   norm_layer(norm, last_width), nn.LeakyReLU(0.2),
                   nn.Conv2d(last_width, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# Registered as network kinds (``nets.<NAME>.kind``) by i2i_plugins.builtin.
NETWORK_KINDS = {"patchgan": PatchGAN}
