"""pix2pix U-Net generator built from recursive skip blocks (Isola et al. 2017, §3.2.1; the CycleGAN reference
code, models/networks.py: UnetGenerator, UnetSkipConnectionBlock).

Keys nest as ``model.model.1.model.3...`` exactly like the released pix2pix checkpoints.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import conv_bias_for, norm_layer

MIN_UNET_DEPTH = 5  # the four outer levels widen ngf→8·ngf, plus the innermost block


def unet_depth_for(image_size: int) -> int:
    """Number of U-Net levels for a square power-of-two image so the innermost block sees 1×1."""
    depth = int(math.log2(image_size)) if image_size > 0 else 0
    if 2**depth != image_size:
        raise ValueError(f"U-Net image size must be a power of two, got {image_size}")
    return depth


class UnetSkipBlock(nn.Module):
    """One level: down (LReLU, 4×4/2 conv, norm) → inner block → up (ReLU, 4×4/2 transposed conv, norm).

    A non-outermost block returns cat([LReLU(x), up(...)]): the reference applies its LeakyReLU
    in place, so its skip connection carries the activated input, and released weights expect it.
    """

    def __init__(self, outer_channels: int, inner_channels: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        in_channels = outer_channels if in_channels is None else in_channels
        bias = conv_bias_for(norm)
        down_conv = nn.Conv2d(in_channels, inner_channels, 4, stride=2, padding=1, bias=bias)
        # Below the innermost level the skip concatenation doubles the channels coming back up.
        up_in = inner_channels if innermost else inner_channels * 2
        if outermost:
            up_conv = nn.ConvTranspose2d(up_in, outer_channels, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(up_in, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, nn.ReLU(), up_conv, norm_layer(norm, outer_channels)]
        else:
            up_conv = nn.ConvTranspose2d(up_in, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, norm_layer(norm, inner_channels), submodule,
                      nn.ReLU(), up_conv, norm_layer(norm, outer_channels)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        activated = self.model[0](x)
        return torch.cat([activated, self.model[1:](activated)], 1)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` levels (unet_256: 8, unet_128: 7); input side must be 2^num_downs·k."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: bool = False):
        super().__init__()
        if num_downs < MIN_UNET_DEPTH:
            raise ValueError(f"UnetGenerator needs num_downs >= {MIN_UNET_DEPTH} (got {num_downs})")
        self.size_multiple = 2 ** num_downs  # inputs are padded to this by ``i2i translate``
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        # Only these middle 8·ngf levels get dropout, as in the reference.
        for _ in range(num_downs - MIN_UNET_DEPTH):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(out_channels, ngf, in_channels=in_channels, submodule=block,
                                   outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# Registered as network kinds (``nets.<NAME>.kind``) by i2i_plugins.builtin.
NETWORK_KINDS = {"unet": UnetGenerator}
