"""Translate files with a trained run or a released reference generator, at each input's own size."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from .errors import CheckpointError, ConfigError


def load_generator(checkpoint: Path | None = None, weights: Path | None = None, direction: str = "AtoB"):
    """The network that translates in ``direction``, in eval mode."""
    if weights is not None:
        from .nets import from_reference_state_dict

        state = ckpt.load(weights, require_i2i=False)
        if not isinstance(state, dict):
            raise CheckpointError(f"{weights}: expected a state dict of tensors")
        try:
            return from_reference_state_dict(state).eval()
        except ValueError as exc:
            raise CheckpointError(f"{weights}: {exc}") from exc
    from .recipe import BuildOptions, build_recipe

    path = checkpoint / "checkpoints" / "latest.pt" if checkpoint.is_dir() else checkpoint
    state = ckpt.load(path)
    config = json.loads(state["config"])
    recipe = build_recipe(config["recipe"], BuildOptions(**{**config["build"], "preset": "paper"}),
                          sets=config["settings"], adds=config["adds"])
    if direction not in recipe.translators:
        raise ConfigError(f"a {recipe.name} run translates only {', '.join(recipe.translators)}, not {direction}")
    name = recipe.translators[direction]
    net = recipe.nets[name].build()
    net.load_state_dict(state["nets"][name])
    return net.eval()


def size_multiple(net) -> int:
    """The factor both sides of an input must be a multiple of (2 per down-sampling)."""
    return int(getattr(net, "size_multiple", 4))


def in_channels(net) -> int:
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            return module.in_channels
    return 3


@torch.no_grad()
def translate_image(net, image: torch.Tensor) -> torch.Tensor:
    """C×H×W in [-1, 1] → translated C'×H×W: pad (reflect, or replicate for tiny images) to what
    the network needs, translate, crop back to the input's size."""
    multiple = size_multiple(net)
    _, height, width = image.shape
    # At least two cells per side, so normalisation at the bottleneck sees more than one pixel.
    pad_h = max(height + -height % multiple, 2 * multiple) - height
    pad_w = max(width + -width % multiple, 2 * multiple) - width
    x = image.unsqueeze(0)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    y = net(x)
    return y[0, :, :height, :width]


def translate_paths(*, checkpoint=None, weights=None, source: Path, out: Path, direction="AtoB", device=None):
    from .data import DataError, find_images, load_image, save_image

    if not source.exists():
        raise DataError(f"--input {source} does not exist")
    files = [source] if source.is_file() else find_images(source)
    if not files:
        raise DataError(f"--input {source} holds no images")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = load_generator(checkpoint, weights, direction).to(device)
    wanted = in_channels(net)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        original = load_image(path, channels=None)
        image = load_image(path, channels=wanted) * 2 - 1
        result = translate_image(net, image.to(device)).cpu()
        if original.shape[0] == 1 and result.shape[0] == 3:  # 1-channel in gives 1-channel out
            weights_rgb = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
            result = (result * weights_rgb).sum(0, keepdim=True)
        target = out / f"{path.stem}.png"
        save_image(result, target)
        written.append(target)
    return written
