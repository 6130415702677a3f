"""Images to score: folders of images as uint8 sets, a run's folder, and a run's test set from its
data folder."""
from __future__ import annotations

import random
from pathlib import Path

from ..errors import I2IError


def to_uint8(images):
    """Float images in [0, 1] → uint8, truncating as a saved PNG does (``floor(x · 255)``)."""
    import torch

    return (images.float().clamp(0, 1) * 255).floor().to(torch.uint8)


def load_folder(folder: Path) -> tuple[list[str], "torch.Tensor", str | None]:
    """(relative stems, uint8 N×3×H×W, how images were resized or None) of every image in ``folder``.

    Images of several sizes are resized (bilinear, antialiased) to the most common size, as photo
    collections need; every feature space resizes anyway, and paired metrics are then skipped."""
    import collections

    import torch
    import torch.nn.functional as F

    from ..data import find_images, load_image

    folder = Path(folder)
    if not folder.is_dir():
        raise I2IError(f"{folder} is not a folder of images")
    files = find_images(folder)
    if not files:
        raise I2IError(f"{folder} holds no images")
    images = [load_image(path, channels=3) for path in files]
    sizes = collections.Counter(tuple(image.shape[1:]) for image in images)
    resized = None
    if len(sizes) > 1:
        (h, w), _ = sizes.most_common(1)[0]
        moved = sum(tuple(image.shape[1:]) != (h, w) for image in images)
        images = [image if tuple(image.shape[1:]) == (h, w) else
                  F.interpolate(image[None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0]
                  for image in images]
        resized = f"{moved} of {len(images)} images resized to {w}x{h} (bilinear, antialiased)"
    stems = [str(path.relative_to(folder).with_suffix("")) for path in files]
    return stems, torch.stack([(image.clamp(0, 1) * 255).round().to(torch.uint8) for image in images]), resized


def run_folder(checkpoint: Path) -> Path:
    if checkpoint.is_dir():
        return checkpoint
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def folder_test_set(data: str, recipe, config, direction: str) -> dict:
    """Source images, real target images (uint8) and whether they pair up, from a data folder's test split."""
    import torch

    from ..data import SwapAB, load_image, open_dataset, to_channels

    res = config.build.image_size
    in_channels, out_channels = config.build.in_channels, config.build.out_channels
    dataset = open_dataset(data, paired=recipe.data.paired, phase="test", image_size=res, channels=in_channels,
                           channels_B=out_channels, direction=direction, load_size=res,
                           preprocess_mode=recipe.data.preprocess, flip=False)
    if recipe.data.paired:
        items = [dataset[(i, 0)] for i in range(len(dataset))]
        source = torch.stack([item["real_A"] for item in items])
        target = torch.stack([to_channels(item["real_B"], 3) for item in items])
        return {"source": source, "target": target, "paired": True}
    base = dataset.dataset if isinstance(dataset, SwapAB) else dataset
    source_files, target_files = (base.files_A, base.files_B) if direction == "AtoB" else (base.files_B, base.files_A)

    def load(files, channels):
        return torch.stack([base.preprocess(load_image(f, channels), random.Random(0)) * 2 - 1 for f in files])

    target = load(target_files, out_channels)
    if target.shape[1] == 1:
        target = target.expand(-1, 3, -1, -1)
    return {"source": load(source_files, in_channels), "target": target, "paired": False}
