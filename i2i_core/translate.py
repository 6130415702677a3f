"""Translate files with a trained run or a released reference generator, at each input's own size."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from .errors import CheckpointError, ConfigError
from .recipe import Translator
from .runconfig import RunConfig


def load_translator(checkpoint: Path | None = None, weights: Path | None = None, direction: str = "AtoB"):
    """(translator, networks in eval mode) for ``direction`` of a run, or for a reference generator."""
    if weights is not None:
        from .nets import from_reference_state_dict

        state = ckpt.load(weights, require_i2i=False)
        if not isinstance(state, dict):
            raise CheckpointError(f"{weights}: expected a state dict of tensors")
        try:
            net = from_reference_state_dict(state).eval()
        except ValueError as exc:
            raise CheckpointError(f"{weights}: {exc}") from exc
        return Translator.of_network("G"), {"G": net}
    recipe, state, _ = load_run(checkpoint)
    return run_translator(recipe, state, direction)


def run_translator(recipe, state: dict, direction: str):
    """(translator, its networks with the checkpoint's weights, in eval mode) for ``direction``."""
    translator = recipe.translator(direction)
    nets = {}
    for name in translator.nets:
        nets[name] = recipe.nets[name].build(name)
        nets[name].load_state_dict(state["nets"][name])
        nets[name].eval()
    return translator, nets


def load_run(checkpoint: Path):
    """(recipe, checkpoint, config) of a run folder or checkpoint file: the recipe rebuilt as trained."""
    path = checkpoint / "checkpoints" / "latest.pt" if checkpoint.is_dir() else checkpoint
    state = ckpt.load(path)
    config = RunConfig.from_checkpoint(state, path)
    return config.build_recipe(), state, config


def load_generator(checkpoint: Path | None = None, weights: Path | None = None, direction: str = "AtoB"):
    """The single network of a unimodal translation (kept for scripts that want a plain module)."""
    translator, nets = load_translator(checkpoint, weights, direction)
    if len(nets) != 1 or translator.sample_code is not None:
        raise ConfigError("this run translates with several networks or a latent code; use load_translator")
    return next(iter(nets.values()))


def size_multiple(nets) -> int:
    """The factor both sides of an input must be a multiple of (2 per down-sampling)."""
    return max(int(getattr(net, "size_multiple", 4)) for net in nets.values())


def in_channels(nets) -> int:
    """Image channels the translation takes: a network's ``in_channels``, else its first convolution's."""
    for net in nets.values():
        if isinstance(getattr(net, "in_channels", None), int):
            return net.in_channels
    for net in nets.values():
        for module in net.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                return module.in_channels
    return 3


def _pad(image: torch.Tensor, multiple: int) -> torch.Tensor:
    _, height, width = image.shape
    # At least two cells per side, so normalisation at the bottleneck sees more than one pixel.
    pad_h = max(height + -height % multiple, 2 * multiple) - height
    pad_w = max(width + -width % multiple, 2 * multiple) - width
    x = image.unsqueeze(0)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x


@torch.no_grad()
def translate_image(translator: Translator, nets, image: torch.Tensor, code=None, tiler=None) -> torch.Tensor:
    """C×H×W in [-1, 1] → translated C'×H×W: pad (reflect, or replicate for tiny images) to what
    the networks need, translate (with ``tiler``, tile by tile when the image is larger than its
    tiles), crop back to the input's size."""
    _, height, width = image.shape
    x = _pad(image, size_multiple(nets))
    y = translator.run(nets, x, code) if tiler is None else tiler(x, code)
    return y[0, :, :height, :width]


def make_tiler(translator: Translator, nets, tile: int | None):
    """The Tiler for ``--tile`` (None: the default size, 0: whole images)."""
    from .tiling import DEFAULT_TILE, Tiler

    tile = DEFAULT_TILE if tile is None else tile
    return Tiler(translator, nets, tile, size_multiple(nets)) if tile else None


def translate_paths(*, checkpoint=None, weights=None, source: Path, out: Path, direction="AtoB", device=None,
                    samples: int | None = None, style: Path | None = None, seed: int = 0, tile: int | None = None):
    from .data import DataError, find_images, load_image, save_image
    from .device import default_device

    if not source.exists():
        raise DataError(f"--input {source} does not exist")
    files = [source] if source.is_file() else find_images(source)
    if not files:
        raise DataError(f"--input {source} holds no images")
    targets = output_paths(files, source, out, samples)
    device = default_device(device)
    translator, nets = load_translator(checkpoint, weights, direction)
    nets = {name: net.to(device) for name, net in nets.items()}
    if samples is not None and translator.sample_code is None:
        raise ConfigError("--samples needs a multimodal run (one that samples latent codes); this one is unimodal")
    if style is not None and translator.style_code is None:
        raise ConfigError("--style needs a run that encodes a style (munit, drit); this one does not")
    wanted = in_channels(nets)
    tiler = make_tiler(translator, nets, tile)
    style_code = None
    if style is not None:
        with torch.no_grad():
            reference = _pad(load_image(style, channels=wanted).to(device) * 2 - 1, size_multiple(nets))
            style_code = translator.style_code(nets, reference)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        gray_input = load_image(path, channels=None).shape[0] == 1
        image = (load_image(path, channels=wanted) * 2 - 1).to(device)
        if samples is None:
            code = style_code
            if code is None and translator.sample_code is not None:
                code = translator.sample_code(1, generator, device)
            results = [translate_image(translator, nets, image, code, tiler)]
        else:
            results = [translate_image(translator, nets, image, translator.sample_code(1, generator, device), tiler)
                       for _ in range(samples)]
        for result, target in zip(results, targets[path]):
            result = result.cpu()
            if gray_input and result.shape[0] == 3:  # 1-channel in gives 1-channel out
                result = (result * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
            save_image(result, target)  # makes the target's subfolder
            written.append(target)
    return written


def output_paths(files: list[Path], source: Path, out: Path, samples: int | None) -> dict:
    """Each input's output files: ``OUT/<its folder under --input>/<stem>.png`` (``<stem>_<k>.png``
    with ``--samples``). Two inputs that would write one file, or an output that would replace an
    input, are refused before anything is written."""
    from .images import DataError

    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; translations go into a folder")
    inputs = {path.resolve(): path for path in files}
    owner: dict[Path, Path] = {}
    targets = {}
    for path in files:
        folder = out / (path.parent.relative_to(source) if source.is_dir() else Path())
        names = [f"{path.stem}.png"] if samples is None else [f"{path.stem}_{k}.png" for k in range(samples)]
        targets[path] = [folder / name for name in names]
        for target in targets[path]:
            key = target.resolve()
            if key in inputs:
                raise DataError(f"--out {out}: translating {path} would overwrite the input {inputs[key]}; "
                                f"choose an output folder that holds no input image")
            if key in owner:
                raise DataError(f"{owner[key]} and {path} would both be written to {target}; rename one of them "
                                f"or translate them separately")
            owner[key] = path
    return targets
