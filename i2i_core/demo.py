"""Procedural "shapes" demo domains (i2i's own; README, "Evaluation"): day A ↔ night B with a known
true translation.

Every image comes from a seed, so data needs no files, and the oracle benchmark can render the exact
B image that a perfect translator would produce from any test input.
"""
from __future__ import annotations

import random

import numpy as np
import torch

BACKGROUND, DISC, SQUARE, TRIANGLE = 0, 1, 2, 3

# One RGB row per class (background, disc, square, triangle). Every A colour's nearest B colour
# belongs to another class, so the identity mapping scores an oracle mIoU of exactly 0.
PALETTE_A = np.array(
    [(0.95, 0.95, 0.90), (0.85, 0.15, 0.15), (0.15, 0.65, 0.20), (0.15, 0.25, 0.85)], dtype=np.float32
)
PALETTE_B = np.array(
    [(0.10, 0.10, 0.30), (0.95, 0.85, 0.20), (0.20, 0.85, 0.85), (0.90, 0.30, 0.80)], dtype=np.float32
)
# The K = 4 background styles of "shapes-styles": navy, maroon, forest, grey. Navy is PALETTE_B's
# background, so style 0 renders exactly like plain "shapes".
STYLES = np.array(
    [(0.10, 0.10, 0.30), (0.40, 0.05, 0.05), (0.05, 0.35, 0.10), (0.45, 0.45, 0.45)], dtype=np.float32
)

DEMO_NAMES = ("shapes", "shapes-styles")
TEST_SEED_OFFSET = 10**6  # test seed of index i is 10⁶ + i, far above the training seeds 2·i and 2·i + 1


def layout(seed: int, res: int) -> np.ndarray:
    """Class map (res×res uint8) of one scene; later shapes cover earlier ones.

    Placement: triangle and square centres are uniform over the positions that keep the whole
    shape inside the image; disc centres are uniform at least 7·s from every border. Pixels are
    tested at their centres (i + 0.5).
    """
    rng = np.random.default_rng(seed)
    s = res / 32
    y, x = np.mgrid[0:res, 0:res] + 0.5
    classes = np.zeros((res, res), np.uint8)
    for _ in range(rng.integers(1, 3)):  # upright isosceles: apex on top, base as wide as the height
        half = rng.uniform(3.5, 5) * s
        cx, cy = rng.uniform(half, res - half, size=2)
        top = cy - half
        inside = (y >= top) & (y <= cy + half) & (np.abs(x - cx) <= (y - top) / 2)
        classes[inside] = TRIANGLE
    for _ in range(rng.integers(1, 3)):
        half = rng.uniform(3, 4) * s
        cx, cy = rng.uniform(half, res - half, size=2)
        classes[(np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)] = SQUARE
    for _ in range(rng.integers(1, 4)):
        radius = rng.uniform(5, 7) * s
        cx, cy = rng.uniform(7 * s, res - 7 * s, size=2)
        classes[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = DISC
    return classes


def render(classes: np.ndarray, palette: np.ndarray, background=None) -> np.ndarray:
    """H×W×3 float32 image in [0, 1]; ``background`` replaces class 0's colour (styles variant)."""
    colours = np.array(palette, dtype=np.float32)
    if background is not None:
        colours[BACKGROUND] = background
    return colours[classes]


def style_of(seed: int) -> int:
    """Background style k ~ U{0..3} of the B image of ``seed``.

    A stream of its own, so the style is independent of the layout drawn from the same seed.
    """
    return int(np.random.default_rng((seed, 1)).integers(len(STYLES)))


def render_b(classes: np.ndarray, seed: int, styles: bool = False) -> tuple[np.ndarray, int | None]:
    """The B ("night") image of the layout of ``seed``, and its style k for "shapes-styles" (else None)."""
    if not styles:
        return render(classes, PALETTE_B), None
    k = style_of(seed)
    return render(classes, PALETTE_B, background=STYLES[k]), k


def demo_name(spec: str) -> str | None:
    """ "demo" or "demo:NAME" → the demo domain's name; any other data spec → None."""
    if spec == "demo":
        return "shapes"
    if not spec.startswith("demo:"):
        return None
    name = spec[len("demo:"):]
    if name not in DEMO_NAMES:
        raise ValueError(f"unknown demo data {spec!r}; valid: " + ", ".join(f"demo:{n}" for n in DEMO_NAMES))
    return name


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """H×W×3 in [0, 1] → 3×H×W in [-1, 1], the range every dataset item uses."""
    return torch.from_numpy(image).permute(2, 0, 1).mul(2).sub(1).contiguous()


class DemoDataset(torch.utils.data.Dataset):
    """Map-style dataset over the shapes domains; ``dataset[(index, seed)]`` → dict of tensors.

    - train, unpaired: A = layout of seed 2·index, B = layout of the odd seed 2·j + 1 with j drawn
      from ``random.Random(seed)`` (as unaligned folders draw their B image).
    - train, paired (pix2pix-style recipes): the layout of seed 2·index rendered both ways.
    - test: always paired, reserved seeds 10⁶ + index rendered both ways; the item also carries
      ``layout`` (LongTensor H×W) and, for "shapes-styles", ``style`` (int, B's background style).
    No augmentation: the images are already random.
    """

    def __init__(self, name: str = "shapes", split: str = "train", paired: bool = False, res: int = 32,
                 length: int | None = None):
        if name not in DEMO_NAMES:
            raise ValueError(f"unknown demo name {name!r}; valid: {', '.join(DEMO_NAMES)}")
        if split not in ("train", "test"):
            raise ValueError(f"demo split must be 'train' or 'test', not {split!r}")
        self.name, self.split, self.paired, self.res = name, split, paired, res
        self.styles = name == "shapes-styles"
        self.length = length if length is not None else (2000 if split == "train" else 200)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        if self.split == "test":
            return self._pair(TEST_SEED_OFFSET + index, with_truth=True)
        if self.paired:
            return self._pair(2 * index, with_truth=False)
        b_seed = 2 * random.Random(seed).randrange(self.length) + 1
        image_b, _ = render_b(layout(b_seed, self.res), b_seed, self.styles)
        real_a = render(layout(2 * index, self.res), PALETTE_A)
        return {"real_A": _to_tensor(real_a), "real_B": _to_tensor(image_b)}

    def _pair(self, seed: int, with_truth: bool) -> dict:
        classes = layout(seed, self.res)
        item = {"real_A": _to_tensor(render(classes, PALETTE_A))}
        image_b, style = render_b(classes, seed, self.styles)
        item["real_B"] = _to_tensor(image_b)
        if with_truth:
            item["layout"] = torch.from_numpy(classes.astype(np.int64))
            if self.styles:
                item["style"] = style
        return item
