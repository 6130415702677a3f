"""SinCUT's single-image data (Park et al. 2020; the CUT reference code, data/singleimage_dataset.py): many
zoomed crops of one image per domain.

Training items come from ``zoom_and_patch``: image A is resized (bilinear) to
(max(crop, W·zw), max(crop, H·zh)) with a zoom (zw, zh) ~ U(1/scale_max, 1), split into a grid of
crop×crop cells shifted by a random offset, and one cell is taken, then flipped at random; B the
same, with tables of its own. As in the reference, the zooms form a table drawn once when the
dataset is made, one pair per group of ``batch_size`` consecutive indices (the reference's rule,
meant as one zoom per batch; its loader, like ours, shuffles indices, so a batch mixes zooms; the
datasets cannot know the run's batch size, so ``open_dataset`` groups by 16, SinCUT's), and the cell
is idx mod #cells for idx from a once-shuffled permutation of the indices. Both tables come from
``table_seed``, so an item depends only on its key ``(index, seed)``; the seed gives the offset
and the flip. The test phase gives the whole images, sides rounded to multiples of 4.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .images import DataError, check_headers, find_images, load_image, phase_folder

DOMAINS = ("A", "B")


def single_image_paths(spec: str) -> tuple[Path, Path]:
    """``FOLDER`` (``trainA/`` and ``trainB/`` with exactly one image each) or ``A.png,B.png``."""
    if "," in spec:
        parts = [Path(p.strip()) for p in spec.split(",")]
        if len(parts) != 2 or not all(parts):
            raise DataError(f"single-image data {spec!r}: expected one folder or two files A.png,B.png")
        for path in parts:
            if not path.is_file():
                raise DataError(f"single-image data: {path} does not exist")
        return parts[0], parts[1]
    root = Path(spec)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (single-image data is a folder or A.png,B.png)")
    paths = []
    for side in DOMAINS:
        folder = phase_folder(root, "train", side)
        files = find_images(folder)
        if len(files) != 1:
            raise DataError(f"{folder} holds {len(files)} images; single-image training needs exactly one per domain")
        paths.append(files[0])
    return paths[0], paths[1]


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(image.shape[-2:]) == (height, width):
        return image
    # antialias: PIL's bilinear (the reference's resize) widens its support when shrinking.
    return F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True,
                         align_corners=False)[0].clamp(0, 1)


def zoom_and_patch(image: torch.Tensor, zoom: tuple[float, float], cell: int, crop: int, rng: random.Random,
                   flip: bool = True) -> torch.Tensor:
    """One crop×crop cell of the zoomed image: [0, 1] C×H×W → [−1, 1] C×crop×crop.

    Cells are numbered column-major (ix = cell // rows, iy = cell % rows), modulo their count."""
    height, width = image.shape[-2:]
    new_w = round(max(crop, width * zoom[0]))
    new_h = round(max(crop, height * zoom[1]))
    image = _resize(image, new_h, new_w)
    cols, rows = new_w // crop, new_h // crop
    left0 = rng.randint(0, new_w - cols * crop)
    top0 = rng.randint(0, new_h - rows * crop)
    cell %= cols * rows
    left, top = left0 + (cell // rows) * crop, top0 + (cell % rows) * crop
    patch = image[:, top:top + crop, left:left + crop]
    if flip and rng.random() < 0.5:
        patch = patch.flip(-1)
    return patch * 2 - 1


class SingleImagePair(torch.utils.data.Dataset):
    """Crops of one A image and one B image (training), or the two whole images (``phase="test"``).

    ``length`` fixes the epoch (the reference's 100 000 items, i.e. 6 250 steps of 16).
    """

    def __init__(self, path_A, path_B, crop: int = 64, batch_size: int = 16, length: int = 100_000,
                 scale_max: float = 3.0, flip: bool = True, phase: str = "train", channels_A: int = 3,
                 channels_B: int = 3, table_seed: int = 0):
        if scale_max < 1:
            raise DataError(f"scale_max must be at least 1, got {scale_max}")
        if crop < 1 or batch_size < 1 or length < 1:
            raise DataError(f"crop, batch_size and length must be positive (got {crop}, {batch_size}, {length})")
        self.paths = (Path(path_A), Path(path_B))
        for path in self.paths:
            if not path.is_file():
                raise DataError(f"{path} does not exist")
        check_headers(self.paths)
        self.images = (load_image(self.paths[0], channels_A), load_image(self.paths[1], channels_B))
        self.crop, self.batch_size, self.scale_max, self.flip = crop, batch_size, scale_max, flip
        self.phase = phase
        self.length = length if phase == "train" else 1
        gen = np.random.default_rng(table_seed)
        groups = length // batch_size + 1
        self.zooms = tuple(gen.uniform(1 / scale_max, 1.0, size=(groups, 2)) for _ in DOMAINS)
        self.cells = tuple(gen.permutation(length) for _ in DOMAINS)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        if self.phase != "train":
            return {f"real_{side}": _whole(image) for side, image in zip(DOMAINS, self.images)}
        rng = random.Random(seed)
        item = {}
        for d, side in enumerate(DOMAINS):
            zoom = tuple(float(z) for z in self.zooms[d][index // self.batch_size])
            item[f"real_{side}"] = zoom_and_patch(self.images[d], zoom, int(self.cells[d][index]), self.crop, rng,
                                                  self.flip)
        return item


def _whole(image: torch.Tensor) -> torch.Tensor:
    height, width = image.shape[-2:]
    return _resize(image, max(4, round(height / 4) * 4), max(4, round(width / 4) * 4)) * 2 - 1
