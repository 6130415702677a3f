"""Paired pixel metrics (output vs its ground truth) and per-input diversity, with no weights.

    L1   = mean |x − y|                       (images in [0, 1])
    PSNR = 10 log10(1 / MSE) per image, averaged; MSE floored at 1e-10 (a 100 dB cap)
    SSIM = mean over the valid window positions of l·c·s (Wang et al. 2004): Gaussian window
           11×11, σ = 1.5, C1 = (0.01)², C2 = (0.03)², per channel, then averaged
    MS-SSIM = Π_j cs_j^{w_j} · ssim_L^{w_L} (Wang et al. 2003) with the 5 published weights,
           2×2 average pooling between scales; images too small for 5 scales use the first
           L scales that keep the window inside (weights renormalised, L reported); negative
           cs / ssim values are clamped at 0 before the power.

Diversity (several outputs per input): the same measures between consecutive samples of an input.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WINDOW, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MSE_FLOOR = 1e-10


def as_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (0..255) or float images → float64 in [0, 1]."""
    return images.double() / 255 if images.dtype == torch.uint8 else images.double()


def l1(x, y) -> torch.Tensor:
    return (as_unit(x) - as_unit(y)).abs().mean((1, 2, 3))


def psnr(x, y) -> torch.Tensor:
    mse = ((as_unit(x) - as_unit(y)) ** 2).mean((1, 2, 3)).clamp(min=MSE_FLOOR)
    return -10 * mse.log10()


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(offsets**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def window_for(height: int, width: int) -> int:
    """The 11-pixel window, or the largest odd size that fits a smaller image."""
    size = min(WINDOW, height, width)
    return size if size % 2 else size - 1


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean SSIM and mean contrast-structure term, valid positions only."""
    channels = x.shape[1]
    kernel = gaussian_window(size).to(x).expand(channels, 1, size, size)

    def blur(t):
        return F.conv2d(t, kernel, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    cs = (2 * cov + C2) / (var_x + var_y + C2)
    ssim_map = (2 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1) * cs
    return ssim_map.mean((1, 2, 3)), cs.mean((1, 2, 3))


def ssim(x, y) -> torch.Tensor:
    x, y = as_unit(x), as_unit(y)
    return _ssim_and_cs(x, y, window_for(*x.shape[-2:]))[0]


def ms_ssim_scales(height: int, width: int) -> int:
    """Scales whose smallest image still holds the 11-pixel window (1 to 5)."""
    side = min(height, width)
    if side < WINDOW:
        return 1
    return max(1, min(len(MS_SSIM_WEIGHTS), 1 + int(math.floor(math.log2(side / WINDOW)))))


def ms_ssim(x, y) -> torch.Tensor:
    x, y = as_unit(x), as_unit(y)
    scales = ms_ssim_scales(*x.shape[-2:])
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    weights = weights / weights.sum()
    size = window_for(*x.shape[-2:])
    result = torch.ones(x.shape[0], dtype=torch.float64)
    for scale in range(scales):
        full, cs = _ssim_and_cs(x, y, size)
        term = full if scale == scales - 1 else cs
        result = result * term.clamp(min=0) ** weights[scale]
        if scale < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return result


def consecutive_pairs(groups: torch.Tensor, distance) -> torch.Tensor:
    """Mean ``distance`` between samples k and k + 1 of each input: N×S×C×H×W → N values."""
    n, s = groups.shape[:2]
    if s < 2:
        raise ValueError("diversity needs at least 2 samples per input")
    first = groups[:, :-1].reshape(n * (s - 1), *groups.shape[2:])
    second = groups[:, 1:].reshape(n * (s - 1), *groups.shape[2:])
    return distance(first, second).reshape(n, s - 1).mean(1)
