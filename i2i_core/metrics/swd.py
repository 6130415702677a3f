"""Sliced Wasserstein distance between Laplacian-pyramid patch sets (Karras et al. 2018):

    SW₁(A, B) = mean over random unit directions θ of mean |sort(θᵀa) − sort(θᵀb)|

Per pyramid level (finest first, down to 16×16), 7×7×3 patches at random positions are
normalised per channel within each set, then compared along 4 × 128 random directions. Both sets
use the same number of images (the smaller count) and of patches per image. Reported ×10³, as
Karras et al. print it: the mean over levels, and each level.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import TooFewSamples

PATCH, PATCHES_PER_IMAGE, MIN_LEVEL_SIZE = 7, 64, 16
REPEATS, DIRECTIONS = 4, 128
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
GAUSSIAN_5X5 = (_BINOMIAL[:, None] * _BINOMIAL[None, :]) / 256


def _blur(x: torch.Tensor) -> torch.Tensor:
    kernel = GAUSSIAN_5X5.to(x).expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])


def laplacian_pyramid(images: torch.Tensor) -> list[torch.Tensor]:
    """Band-pass levels, finest first, then the low-pass residual of at least MIN_LEVEL_SIZE."""
    levels, current = [], images
    while min(current.shape[-2:]) // 2 >= MIN_LEVEL_SIZE:
        smaller = _blur(current)[..., ::2, ::2]
        up = F.interpolate(smaller, size=current.shape[-2:], mode="bilinear", align_corners=False)
        levels.append(current - up)
        current = smaller
    levels.append(current)
    return levels


def patch_descriptors(level: torch.Tensor, per_image: int, generator: torch.Generator) -> torch.Tensor:
    """M×(3·7·7) patches at random positions, normalised per channel over the whole set."""
    n, c, h, w = level.shape
    size = min(PATCH, h, w)
    windows = level.unfold(2, size, 1).unfold(3, size, 1)  # N×C×(h−size+1)×(w−size+1)×size×size
    image = torch.arange(n).repeat_interleave(per_image)
    y = torch.randint(0, h - size + 1, (n * per_image,), generator=generator)
    x = torch.randint(0, w - size + 1, (n * per_image,), generator=generator)
    patches = windows[image, :, y, x]  # M×C×size×size
    patches = patches - patches.mean((0, 2, 3), keepdim=True)
    patches = patches / patches.std((0, 2, 3), keepdim=True).clamp(min=1e-8)
    return patches.flatten(1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator,
                       repeats: int = REPEATS, directions: int = DIRECTIONS) -> float:
    results = []
    a, b = a.float(), b.float()  # projections sort in float32: far faster, and ample for a distance
    for _ in range(repeats):
        theta = torch.randn(directions, a.shape[1], generator=generator)
        theta = theta / theta.norm(dim=1, keepdim=True)
        projected_a = torch.sort(theta @ a.T, dim=1).values  # one row per direction
        projected_b = torch.sort(theta @ b.T, dim=1).values
        results.append((projected_a - projected_b).abs().double().mean())
    return float(torch.stack(results).mean())


def swd(real: torch.Tensor, fake: torch.Tensor, seed: int = 0, per_image: int = PATCHES_PER_IMAGE) -> dict:
    """SWD ×10³ between uint8 image sets N×3×H×W; ``fake`` is resized to ``real``'s size if it differs."""
    count = min(len(real), len(fake))
    if count < 2:
        raise TooFewSamples(f"SWD needs at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    generator = torch.Generator().manual_seed(seed)
    pick_real = torch.randperm(len(real), generator=generator)[:count]
    pick_fake = torch.randperm(len(fake), generator=generator)[:count]
    a = real[pick_real].double() / 255
    b = fake[pick_fake].double() / 255
    resized = b.shape[-2:] != a.shape[-2:]
    if resized:
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    per_level = []
    for level_a, level_b in zip(laplacian_pyramid(a), laplacian_pyramid(b)):
        per_level.append(1e3 * sliced_wasserstein(patch_descriptors(level_a, per_image, generator),
                                                  patch_descriptors(level_b, per_image, generator), generator))
    return {"value": sum(per_level) / len(per_level), "per_level": per_level, "images_per_set": int(count),
            "patches_per_image": per_image, "seed": int(seed), "scale": "x1e3",
            "resize": "generated images bilinear (antialias) to the real size" if resized else "none"}
