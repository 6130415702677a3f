"""Stand-ins that let a network run tile by tile as if on the whole image (see i2i_core.tiling):
norm layers with whole-image statistics, noise read from one whole-image map, and the window
(crop and kept part) that tells them where the tile lies."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn

from .errors import ConfigError


class Stop(Exception):
    """Ends a statistics pass at the layer measured: nothing after it is needed."""


@dataclass
class Window:
    """The crop a tile computes on and the part of it the tile keeps, in the segment's input pixels."""

    cy0: int
    cx0: int
    ch: int
    cw: int
    y0: int
    y1: int
    x0: int
    x1: int

    def kept(self, h: int, w: int) -> tuple[slice, slice]:
        """Rows and columns kept, at a layer whose output for this crop is h×w."""
        sy, sx = Fraction(h, self.ch), Fraction(w, self.cw)
        ends = [(self.y0 - self.cy0) * sy, (self.y1 - self.cy0) * sy,
                (self.x0 - self.cx0) * sx, (self.x1 - self.cx0) * sx]
        if any(e.denominator != 1 for e in ends):
            raise RuntimeError(f"a layer of {h}×{w} for a {self.ch}×{self.cw} crop does not align with the tiles")
        a, b, c, d = (int(e) for e in ends)
        return slice(a, b), slice(c, d)

    def origin(self, h: int, w: int) -> tuple[int, int]:
        """Where this crop starts in the whole image, at a layer whose output for the crop is h×w."""
        oy, ox = self.cy0 * Fraction(h, self.ch), self.cx0 * Fraction(w, self.cw)
        if oy.denominator != 1 or ox.denominator != 1:
            raise RuntimeError(f"a layer of {h}×{w} for a {self.ch}×{self.cw} crop does not align with the tiles")
        return int(oy), int(ox)


@dataclass
class Context:
    window: Window | None = None


def norm_kind(module: nn.Module) -> str | None:
    """How a module normalises with statistics of its input: over each channel's pixels
    (``channel``), over all of C×H×W (``layer``), or not at all (None)."""
    from .nets.drit import DritLayerNorm
    from .nets.munit import AdaptiveInstanceNorm2d, MunitLayerNorm

    if isinstance(module, nn.InstanceNorm2d):
        return None if module.track_running_stats and not module.training else "channel"
    if isinstance(module, AdaptiveInstanceNorm2d):
        return "channel"
    if isinstance(module, (MunitLayerNorm, DritLayerNorm)):
        return "layer"
    if isinstance(module, (nn.GroupNorm, nn.LayerNorm)) or (isinstance(module, nn.BatchNorm2d) and module.training):
        raise ConfigError(f"--tile: {type(module).__name__} is not supported by tiled translation; use --tile 0")
    return None


class NormStandIn:
    """One norm layer's whole-image statistics: accumulated from tiles (Chan's parallel merge, in
    float64, so that thousands of tiles lose nothing), then applied as constants."""

    def __init__(self, module: nn.Module, context: Context):
        self.module, self.kind, self.context = module, norm_kind(module), context
        self.n, self.mean, self.m2 = 0, None, None
        self.shift = self.scale = None
        self.measuring = False

    def add(self, x: torch.Tensor) -> None:
        n = x.shape[2] * x.shape[3]
        if n == 0:
            return
        var, mean = torch.var_mean(x.detach(), dim=(2, 3), unbiased=False)
        mean, m2 = mean.double(), var.double() * n
        if self.mean is None:
            self.n, self.mean, self.m2 = n, mean, m2
            return
        total, delta = self.n + n, mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta ** 2 * (self.n * n / total)
        self.n = total

    def freeze(self) -> None:
        from .nets.munit import MunitLayerNorm

        mean, m2, count = self.mean, self.m2, self.n
        if self.kind == "layer":
            grand = mean.mean(1, keepdim=True)
            m2 = (m2 + count * (mean - grand) ** 2).sum(1, keepdim=True)
            mean, count = grand, count * self.mean.shape[1]
        eps = self.module.eps
        if isinstance(self.module, MunitLayerNorm):  # unbiased std, eps outside the root (MUNIT's own)
            scale = 1 / ((m2 / (count - 1)).sqrt() + eps)
        else:
            scale = 1 / (m2 / count + eps).sqrt()
        self.shift, self.scale = mean[:, :, None, None], scale[:, :, None, None]
        self.measuring = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.measuring:
            rows, cols = self.context.window.kept(x.shape[2], x.shape[3])
            self.add(x[:, :, rows, cols])
            raise Stop
        y = (x - self.shift.to(x.dtype)) * self.scale.to(x.dtype)
        return affine(self.module, y)


def affine(module: nn.Module, y: torch.Tensor) -> torch.Tensor:
    from .nets.drit import DritLayerNorm
    from .nets.munit import AdaptiveInstanceNorm2d, MunitLayerNorm

    if isinstance(module, AdaptiveInstanceNorm2d):
        beta, gamma = module.style_params
        return y * gamma[:, :, None, None] + beta[:, :, None, None]
    if isinstance(module, MunitLayerNorm):
        return y * module.gamma.view(1, -1, 1, 1) + module.beta.view(1, -1, 1, 1)
    if isinstance(module, DritLayerNorm):
        return y * module.weight + module.bias
    if module.affine:
        return y * module.weight.view(1, -1, 1, 1) + module.bias.view(1, -1, 1, 1)
    return y


class NoiseStandIn:
    """StyleGAN2 noise injection reading its window of one whole-image noise map."""

    def __init__(self, module: nn.Module, context: Context, noise: torch.Tensor):
        self.module, self.context, self.noise = module, context, noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        oy, ox = self.context.window.origin(x.shape[2], x.shape[3])
        return x + self.module.weight * self.noise[:, :, oy:oy + x.shape[2], ox:ox + x.shape[3]]


def is_noise(module: nn.Module) -> bool:
    from .nets.stylegan import NoiseInjection

    return isinstance(module, NoiseInjection)


class Patched:
    """Routes the given modules' forward to stand-ins for as long as the ``with`` lasts."""

    def __init__(self, stand_ins: dict):
        self.stand_ins = stand_ins

    def __enter__(self):
        for module, stand_in in self.stand_ins.items():
            module.forward = stand_in.forward
        return self

    def __exit__(self, *exc):
        for module in self.stand_ins:
            del module.forward
