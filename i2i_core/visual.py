"""Sample grids: one row per input, one column per visual product (input | output | reconstruction)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .step import Step


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """C×H×W in [-1, 1] → H×W×3 uint8, truncating as the reference does; 1 channel is tiled to RGB."""
    array = ((image.detach().float().clamp(-1, 1) + 1) / 2 * 255).floor().to(torch.uint8).cpu()
    if array.shape[0] == 1:
        array = array.expand(3, -1, -1)
    return array[:3].permute(1, 2, 0).numpy()


def grid(rows: list[list[torch.Tensor]], pad: int = 2, min_tile: int = 96) -> Image.Image:
    """Tile rows of C×H×W tensors (any sizes) on a white canvas; small tiles are enlarged (nearest)
    to at least ``min_tile`` pixels so that a 32×32 demo run can be looked at."""
    scale = max(1, min_tile // max(t.shape[-1] for row in rows for t in row))
    if scale > 1:
        rows = [[t.repeat_interleave(scale, -1).repeat_interleave(scale, -2) for t in row] for row in rows]
    height = [max(t.shape[1] for t in row) for row in rows]
    width = [max(row[c].shape[2] for row in rows if c < len(row)) for c in range(max(map(len, rows)))]
    canvas = np.full((sum(height) + pad * (len(rows) + 1), sum(width) + pad * (len(width) + 1), 3), 255, np.uint8)
    y = pad
    for r, row in enumerate(rows):
        x = pad
        for c, image in enumerate(row):
            tile = to_uint8(image)
            canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
            x += width[c] + pad
        y += height[r] + pad
    return Image.fromarray(canvas)


def _eval_mode(nets):
    modes = {name: net.training for name, net in nets.items()}
    for net in nets.values():
        net.eval()
    return modes


CODES_PER_INPUT = 4


@torch.no_grad()
def sample_grid(recipe, nets, dataset, count: int, device, path: Path) -> Path:
    """Translate the first ``count`` items of ``dataset`` and save the recipe's visuals as a grid;
    a multimodal recipe adds one column per latent code (several outputs per input)."""
    count = max(1, min(count, len(dataset)))
    items = [dataset[(i, 0)] for i in range(count)]
    batch = {k: v.to(device) for k, v in torch.utils.data.default_collate(items).items()}
    modes = _eval_mode(nets)
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(0)  # the same codes at every sampling step, so grids are comparable
            step = Step(batch, nets, recipe.products, recipe.state, training=False, translators=recipe.translator)
            columns = [step[name] for name in recipe.visuals if step.has(name)]
            translator = recipe.translator("AtoB")
            if translator.sample_code is not None:
                generator = torch.Generator().manual_seed(0)
                for _ in range(CODES_PER_INPUT):
                    code = translator.sample_code(count, generator, device)
                    columns.append(translator.run(nets, batch["real_A"], code))
    finally:
        for name, net in nets.items():
            net.train(modes[name])
    image = grid([[column[i] for column in columns] for i in range(count)])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    image.save(path.parent / "latest.png")
    return path
