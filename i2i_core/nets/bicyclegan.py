"""BicycleGAN's networks (Zhu et al. 2017; the BicycleGAN reference code, models/networks.py), sized from
the image: U-Net with z, ResNet encoder, 2-scale D.

- ``bicyclegan_unet``: G(A, z). ``where_add="all"`` (the reference default, G_Unet_add_all) tiles z
  and concatenates it to the input of *every* level's down-conv; ``"input"`` (G_Unet_add_input)
  concatenates it to the image only and is otherwise pix2pix's U-Net (up to the order of the
  channels it concatenates). Depth log2(image size), so
  8 levels at 256² (unet_256) and 5 at 32², the innermost level always seeing 1×1. ``upsample``
  is the reference's ``--upsample``: ``basic`` (its default, a transposed conv 4×4/2) or
  ``bilinear`` (bilinear ×2, reflection pad 1, conv 3×3), which cannot paint the transposed conv's
  2-pixel checkerboard.
- ``bicyclegan_encoder``: E_ResNet (vaeLike), B image → (μ, log-variance) of the code.
- ``bicyclegan_discriminator``: D_NLayersMulti, PatchGANs (n_layers 3) at ``num_scales`` scales of
  the input, returning a list of logit maps (the adversarial plugin sums over them).

All convolutions have biases (the outermost down-conv's code block shares its image block's);
norms are instance norm without affine parameters or running stats.
Parameter counts at 256², nz 8, widths 64: G 54,794,627 (``all``) or 54,417,795 (``input``);
E 2,590,032; D 3,458,978.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import norm_layer
from .patchgan import PatchGAN
from .unet import MIN_UNET_DEPTH


def tile(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The (N, nz) code broadcast over ``like``'s spatial size: (N, nz, H, W)."""
    return z.view(z.shape[0], z.shape[1], 1, 1).expand(-1, -1, like.shape[2], like.shape[3])


class ImageCodeConv(nn.Module):
    """The outermost down-conv, 4×4/2 over cat([x, z tiled]), with its weight kept as two blocks: the
    image channels' conv (with the bias) and the code channels' conv. The sum is the same function
    as one conv over the concatenation; keeping the image block as a conv of its own lets tools read
    the image's channel count from a network's first conv (``i2i translate`` does). Under xavier
    init each block gets the std of its own fan-in (≤ 5 % from the single conv's at 3 + 8 channels).
    """

    def __init__(self, in_channels: int, nz: int, out_channels: int):
        super().__init__()
        self.image = nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.code = nn.Conv2d(nz, out_channels, 4, stride=2, padding=1, bias=False) if nz else None

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.image(x)
        return h if self.code is None else h + self.code(tile(z, x))


class UnetLevelWithZ(nn.Module):
    """One U-Net level taking the code z (``nz`` channels, 0 for none) at its input:

    down: [LeakyReLU 0.2] → conv 4×4/2 of cat([x, z tiled]) → [IN]   (outermost: the conv only;
          innermost: no norm)
    up:   ReLU → transposed conv 4×4/2 (``upsample="bilinear"``: bilinear ×2 → reflection pad 1 →
          conv 3×3) → IN (outermost: → tanh) → [Dropout 0.5]
    out:  cat([up, skip]) except at the outermost level. The skip is the level's input without z
          (G_Unet_add_all), or with ``activated_skip`` its LeakyReLU (G_Unet_add_input reuses
          pix2pix's block, whose in-place LeakyReLU changes the tensor the skip then reads).
    """

    def __init__(self, in_channels: int, outer_channels: int, inner_channels: int, nz: int,
                 inner: "UnetLevelWithZ | None" = None, outermost: bool = False, norm: str = "instance",
                 dropout: bool = False, activated_skip: bool = False, upsample: str = "basic"):
        super().__init__()
        self.outermost, self.activated_skip, self.nz = outermost, activated_skip, nz
        innermost = inner is None
        if outermost:
            self.down = ImageCodeConv(in_channels, nz, inner_channels)
        else:
            self.act = nn.LeakyReLU(0.2)
            self.down = nn.Conv2d(in_channels + nz, inner_channels, 4, stride=2, padding=1)
            self.down_norm = nn.Identity() if innermost else norm_layer(norm, inner_channels)
        self.inner = inner
        up_in = inner_channels if innermost else 2 * inner_channels
        up = [nn.ReLU(), *upsampling_conv(upsample, up_in, outer_channels)]
        up += [nn.Tanh()] if outermost else [norm_layer(norm, outer_channels)]
        if dropout:
            up.append(nn.Dropout(0.5))
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            h = self.down(x, z)
        else:
            activated = self.act(x)
            code = [self.act(tile(z, x))] if self.nz else []
            h = self.down_norm(self.down(torch.cat([activated, *code], 1)))
        if self.inner is not None:
            h = self.inner(h, z)
        h = self.up(h)
        if self.outermost:
            return h
        return torch.cat([h, activated if self.activated_skip else x], 1)


UPSAMPLE_MODES = ("basic", "bilinear")


def upsampling_conv(mode: str, in_channels: int, out_channels: int) -> list[nn.Module]:
    """The layers that double the resolution on a U-Net level's way up."""
    if mode == "basic":
        return [nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)]
    return [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.ReflectionPad2d(1),
            nn.Conv2d(in_channels, out_channels, 3)]


class UnetWithZ(nn.Module):
    """G(A, z): a U-Net with ``num_downs`` levels taking the code at every level's input (``all``)
    or at the image only (``input``). Dropout (``dropout=True``, as every reference training script
    sets) sits in the 8·ngf levels between the innermost and the four outer ones."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, nz: int = 8, num_downs: int = 8, ngf: int = 64,
                 where_add: str = "all", norm: str = "instance", dropout: bool = False, upsample: str = "basic"):
        super().__init__()
        if where_add not in ("all", "input"):
            raise ValueError(f"where_add must be 'all' or 'input', got {where_add!r}")
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}")
        if num_downs < MIN_UNET_DEPTH:
            raise ValueError(f"the BicycleGAN U-Net needs num_downs >= {MIN_UNET_DEPTH} (a 32×32 image), got {num_downs}")
        self.nz, self.where_add = nz, where_add
        self.size_multiple = 2 ** num_downs  # inputs are padded to this by ``i2i translate``
        inner_nz, kind = (nz, {}) if where_add == "all" else (0, {"activated_skip": True})
        kind["upsample"] = upsample
        level = UnetLevelWithZ(ngf * 8, ngf * 8, ngf * 8, inner_nz, norm=norm, **kind)
        for _ in range(num_downs - MIN_UNET_DEPTH):
            level = UnetLevelWithZ(ngf * 8, ngf * 8, ngf * 8, inner_nz, level, norm=norm, dropout=dropout, **kind)
        for mult in (4, 2, 1):
            level = UnetLevelWithZ(ngf * mult, ngf * mult, ngf * mult * 2, inner_nz, level, norm=norm, **kind)
        self.unet = UnetLevelWithZ(in_channels, out_channels, ngf, nz, level, outermost=True, norm=norm,
                                   upsample=upsample)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.unet(x, z)


class ResidualDown(nn.Module):
    """E_ResNet's BasicBlock: [IN → LReLU → conv3×3 (in→in) → IN → LReLU → conv3×3 (in→out) → avgpool 2]
    plus the shortcut [avgpool 2 → conv1×1 (in→out)]; halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "instance"):
        super().__init__()
        self.conv = nn.Sequential(
            norm_layer(norm, in_channels), nn.LeakyReLU(0.2), nn.Conv2d(in_channels, in_channels, 3, padding=1),
            norm_layer(norm, in_channels), nn.LeakyReLU(0.2), nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.AvgPool2d(2))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class ResnetEncoder(nn.Module):
    """E(B) → (μ, log-variance): conv 4×4/2 (→nef), residual blocks nef·(1→2→3→4→4), LReLU, pool, two
    linear heads. ``n_blocks`` 5 is resnet_256 (four residual blocks), 4 is resnet_128.

    The reference pools with AvgPool2d(8), which is a global average only at 256² (the last map is
    image size / 2^n_blocks = 8 there). Here the pool is a global average of the last map at any
    size: the reference's pool at 256², AvgPool2d(size / 32) for a size×size input in general, and
    no pooling at all at 32² (a 1×1 map).
    """

    def __init__(self, in_channels: int = 3, nz: int = 8, nef: int = 64, n_blocks: int = 5, norm: str = "instance"):
        super().__init__()
        widest = 4
        layers = [nn.Conv2d(in_channels, nef, 4, stride=2, padding=1)]
        for n in range(1, n_blocks):
            layers.append(ResidualDown(nef * min(widest, n), nef * min(widest, n + 1), norm))
        layers += [nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1)]
        self.conv = nn.Sequential(*layers)
        width = nef * min(widest, n_blocks)
        self.fc = nn.Linear(width, nz)
        self.fcVar = nn.Linear(width, nz)
        self.size_multiple = 2 ** n_blocks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.conv(x).flatten(1)
        return self.fc(features), self.fcVar(features)


class MultiScaleDiscriminator(nn.Module):
    """PatchGANs (instance norm) on the input and on ``num_scales`` − 1 successively average-pooled
    copies (AvgPool 3×3/2, padding 1, padding not counted); scale k has ndf / 2^k channels.
    Returns the list of logit maps, finest first (30² and 14² at 256²).

    Each scale has ``n_layers`` halving convs (3, as the reference) unless its input is too small
    for that: a scale of side s gets min(n_layers, ⌊log2(s / 3)⌋), which keeps the map that the
    last instance norm sees at 2×2 or more (at 32², the second scale sees 16² and gets 2 layers).
    At 64² and above every scale has the reference's 3.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, num_scales: int = 2, n_layers: int = 3,
                 norm: str = "instance", image_size: int = 256):
        super().__init__()
        sides = [image_size // 2 ** k for k in range(num_scales)]
        if min(sides) < 6:
            raise ValueError(f"a {num_scales}-scale discriminator needs images of at least {6 * 2 ** (num_scales - 1)} "
                             f"pixels, got {image_size}")
        self.scales = nn.ModuleList(PatchGAN(in_channels, round(ndf / 2 ** k), min(n_layers, layers_for(side)), norm)
                                    for k, side in enumerate(sides))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for k, scale in enumerate(self.scales):
            if k:
                x = self.downsample(x)
            maps.append(scale(x))
        return maps


def layers_for(side: int) -> int:
    """The most halving convs a PatchGAN on side×side inputs can have with ≥ 2×2 before its last norm."""
    return int(math.floor(math.log2(side / 3)))


# Registered as network kinds (``nets.<NAME>.kind``) by i2i_plugins.builtin.
NETWORK_KINDS = {"bicyclegan_unet": UnetWithZ, "bicyclegan_encoder": ResnetEncoder,
                 "bicyclegan_discriminator": MultiScaleDiscriminator}
