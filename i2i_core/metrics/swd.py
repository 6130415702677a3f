"""Sliced Wasserstein distance between Laplacian-pyramid patch sets (Karras et al. 2018):

    SW₁(A, B) = mean over random unit directions θ of mean |sort(θᵀa) − sort(θᵀb)|

Per pyramid level (finest first, down to 16×16), 7×7×3 patches at random positions are
normalised per channel within each set, then compared along 4 × 128 random directions. Both sets
use the same number of images (the smaller count) and of patches per image. Reported ×10³, as
Karras et al. print it: the mean over levels, and each level.

Pyramids are built BATCH images at a time in float32, so memory does not grow with the set; every
random draw (images, patch positions, directions) is made up front, in one seeded order.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import TooFewSamples

PATCH, PATCHES_PER_IMAGE, MIN_LEVEL_SIZE = 7, 64, 16
REPEATS, DIRECTIONS = 4, 128
BATCH = 64
FEATURES = "laplacian-pyramid-7x7-patches"
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
GAUSSIAN_5X5 = (_BINOMIAL[:, None] * _BINOMIAL[None, :]) / 256


def _blur(x: torch.Tensor) -> torch.Tensor:
    kernel = GAUSSIAN_5X5.to(x).expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])


def level_shapes(height: int, width: int) -> list[tuple[int, int]]:
    """(h, w) of each pyramid level, finest first: halved while the result keeps MIN_LEVEL_SIZE."""
    shapes = [(height, width)]
    while min(shapes[-1]) // 2 >= MIN_LEVEL_SIZE:
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))  # what [::2] keeps of an odd side
    return shapes


def laplacian_pyramid(images: torch.Tensor) -> list[torch.Tensor]:
    """Band-pass levels, finest first, then the low-pass residual of at least MIN_LEVEL_SIZE."""
    levels, current = [], images
    for _ in level_shapes(*images.shape[-2:])[1:]:
        smaller = _blur(current)[..., ::2, ::2]
        up = F.interpolate(smaller, size=current.shape[-2:], mode="bilinear", align_corners=False)
        levels.append(current - up)
        current = smaller
    levels.append(current)
    return levels


def _positions(count: int, per_image: int, shape: tuple[int, int], generator: torch.Generator):
    """Top-left corners of ``per_image`` patches in each of ``count`` images (rows image-major)."""
    size = min(PATCH, *shape)
    y = torch.randint(0, shape[0] - size + 1, (count * per_image,), generator=generator)
    x = torch.randint(0, shape[1] - size + 1, (count * per_image,), generator=generator)
    return y, x


def _directions(dim: int, generator: torch.Generator, repeats: int = REPEATS,
                directions: int = DIRECTIONS) -> list[torch.Tensor]:
    thetas = []
    for _ in range(repeats):
        theta = torch.randn(directions, dim, generator=generator)
        thetas.append(theta / theta.norm(dim=1, keepdim=True))
    return thetas


def patch_descriptors(images: torch.Tensor, pick: torch.Tensor, positions: list, per_image: int,
                      size: tuple[int, int] | None = None) -> list[torch.Tensor]:
    """Per level, M×(3·7·7) patches of ``images[pick]`` (uint8) at the given positions, normalised per
    channel over the whole set; ``size``: resize the images to it first (bilinear, antialias)."""
    found = [[] for _ in positions]
    for start in range(0, len(pick), BATCH):
        batch = images[pick[start:start + BATCH]].float() / 255
        if size is not None:
            batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
        rows = slice(start * per_image, (start + len(batch)) * per_image)
        image = torch.arange(len(batch)).repeat_interleave(per_image)
        for level, (y, x), parts in zip(laplacian_pyramid(batch), positions, found):
            side = min(PATCH, *level.shape[-2:])
            windows = level.unfold(2, side, 1).unfold(3, side, 1)  # N×C×(h−side+1)×(w−side+1)×side×side
            parts.append(windows[image, :, y[rows], x[rows]])  # M×C×side×side
    out = []
    for parts in found:
        patches = torch.cat(parts)
        patches = patches - patches.mean((0, 2, 3), keepdim=True)
        patches = patches / patches.std((0, 2, 3), keepdim=True).clamp(min=1e-8)
        out.append(patches.flatten(1))
    return out


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, thetas: list[torch.Tensor]) -> float:
    """Mean over the unit directions of each row of ``thetas`` of the 1-D Wasserstein-1 distance."""
    results = []
    a, b = a.float(), b.float()  # projections sort in float32: far faster, and ample for a distance
    for theta in thetas:
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
    shapes = level_shapes(*real.shape[-2:])
    positions_real, positions_fake, thetas = [], [], []
    for shape in shapes:  # the draw order of the earlier level-by-level loop, so a seed keeps its value
        positions_real.append(_positions(count, per_image, shape, generator))
        positions_fake.append(_positions(count, per_image, shape, generator))
        thetas.append(_directions(real.shape[1] * min(PATCH, *shape) ** 2, generator))
    resized = fake.shape[-2:] != real.shape[-2:]
    a = patch_descriptors(real, pick_real, positions_real, per_image)
    b = patch_descriptors(fake, pick_fake, positions_fake, per_image, tuple(real.shape[-2:]) if resized else None)
    per_level = [1e3 * sliced_wasserstein(level_a, level_b, level_thetas)
                 for level_a, level_b, level_thetas in zip(a, b, thetas)]
    return {"value": sum(per_level) / len(per_level), "per_level": per_level, "images_per_set": int(count),
            "patches_per_image": per_image, "seed": int(seed), "scale": "x1e3", "features": FEATURES,
            "features_architecture": f"Laplacian pyramid (5x5 binomial blur, float32) down to {MIN_LEVEL_SIZE}px; "
                                     f"{PATCH}x{PATCH} RGB patches normalised per channel per set; "
                                     f"{REPEATS} x {DIRECTIONS} random directions per level",
            "dtype": "float32 pyramids, patches and projections; distances averaged in float64",
            "resize": "generated images bilinear (antialias) to the real size" if resized else "none"}
