"""Tiled translation: an image of any size in bounded memory, equal to the whole-image translation.

A tile computed on its own differs from the same pixels of a whole-image pass in three ways, and
each is removed here rather than hidden by feathering:

* normalisation statistics (InstanceNorm, AdaIN, MUNIT's and DRIT's layer norms) are those of
  the whole image: measured first, one layer at a time in the order the network runs them, each
  pass running every tile only up to the layer measured, with the earlier layers already frozen;
  every pixel is counted once, from the tile that keeps it;
* a convolution's padding at a tile border: a tile is computed on a crop that adds a halo as wide
  as the network's receptive field (measured on the network itself), so the pixels a tile keeps
  never see a border that is not an image border;
* per-pixel noise (StyleGAN2's noise injection) is drawn once for the whole image, in the order
  and shapes of an untiled pass, and each tile reads its window.

Overlapping crops then agree where they overlap, up to float rounding, so each output pixel is
taken from the one tile that owns it. The paper ResNet generator is split at its residual blocks
(the bottleneck, 1/16 of the pixels, is kept whole in memory), so that its 18 norm layers do not
each rerun the network from the image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import torch
from torch import nn

from .errors import ConfigError
from .tiling_layers import Context, NoiseStandIn, NormStandIn, Patched, Stop, Window, is_noise, norm_kind

PROBE_LIMIT = 4096  # widest crop tried when measuring a receptive field


@dataclass
class Segment:
    """A part of the translation that tiles on its own: ``fn`` maps its input (C×H×W at some
    scale of the image) to its output; its norm and noise layers are among ``modules``; crops
    start on multiples of ``multiple`` (its stride-2 layers' grid)."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    modules: list
    multiple: int


@dataclass
class _Layout:
    """What a probe found out about a segment: its norm and noise layers in the order they run, the
    scale (output/input) of each and of the output, the output's channels, and the halo."""

    norms: list = field(default_factory=list)
    noises: list = field(default_factory=list)  # (module, scale)
    scale: Fraction = Fraction(1)
    channels: int = 0
    halo: int | None = None


def _layout(segment: Segment, x: torch.Tensor) -> _Layout:
    """Run ``segment`` once on the small input ``x``, noting which norm and noise layers it calls."""
    layout, seen, hooks = _Layout(), set(), []

    def note(module, args):
        if module in seen:
            raise ConfigError(f"--tile: {type(module).__name__} runs twice in one translation; use --tile 0")
        seen.add(module)
        scale = Fraction(args[0].shape[2], x.shape[2])
        if is_noise(module):
            layout.noises.append((module, scale))
        else:
            layout.norms.append(module)

    for top in segment.modules:
        for module in top.modules():
            if norm_kind(module) is not None or is_noise(module):
                hooks.append(module.register_forward_pre_hook(note))
    try:
        y = segment.fn(x)
    finally:
        for hook in hooks:
            hook.remove()
    layout.scale, layout.channels = Fraction(y.shape[2], x.shape[2]), y.shape[1]
    return layout


def _windows(height: int, width: int, tile: int, halo: int):
    for y0 in range(0, height, tile):
        y1 = min(height, y0 + tile)
        cy0, cy1 = max(0, y0 - halo), min(height, y1 + halo)
        yield [Window(cy0, max(0, x0 - halo), cy1 - cy0, min(width, x0 + tile + halo) - max(0, x0 - halo),
                       y0, y1, x0, min(width, x0 + tile)) for x0 in range(0, width, tile)]


def measure_stats(segment: Segment, layout: _Layout, src: torch.Tensor, tile: int, halo: int) -> tuple:
    """Whole-image statistics of the segment's norm layers, one layer after another: (the norm
    stand-ins, frozen; the noise stand-ins; the context that tells them which window runs)."""
    context = Context()
    norms = [NormStandIn(module, context) for module in layout.norms]
    noises = {module: NoiseStandIn(module, context, noise) for (module, _), noise in
              zip(layout.noises, _draw_noise(layout, src))}
    with Patched({**{n.module: n for n in norms}, **noises}):
        for norm in norms:
            norm.measuring = True
            for band in _windows(src.shape[2], src.shape[3], tile, halo):
                for window in band:
                    context.window = window
                    try:
                        segment.fn(_crop(src, window))
                    except Stop:
                        pass
            if norm.mean is None:
                raise RuntimeError(f"{type(norm.module).__name__} did not run on the tiles")
            norm.freeze()
    return norms, noises, context


def _crop(src: torch.Tensor, window: Window) -> torch.Tensor:
    # A copy: a network whose first layer works in place must not write into the image.
    return src[:, :, window.cy0:window.cy0 + window.ch, window.cx0:window.cx0 + window.cw].clone()


def _draw_noise(layout: _Layout, src: torch.Tensor) -> list:
    """The noise maps an untiled pass would draw, in its order and shapes, from the same generator."""
    maps = []
    for _, scale in layout.noises:
        h, w = src.shape[2] * scale, src.shape[3] * scale
        maps.append(src.new_empty(src.shape[0], 1, int(h), int(w)).normal_())
    return maps


def run_segment(segment: Segment, layout: _Layout, src: torch.Tensor, tile: int, halo: int,
                in_place: bool = False) -> torch.Tensor:
    """The segment's output for the whole of ``src``, computed tile by tile. ``in_place`` writes it
    over ``src`` (same shape) a row of tiles at a time, once that row is done, keeping a copy of the
    rows the next row of tiles still reads as they were."""
    norms, noises, context = measure_stats(segment, layout, src, tile, halo)
    scale = layout.scale
    height, width = src.shape[2], src.shape[3]
    out = src if in_place else src.new_empty(src.shape[0], layout.channels, int(height * scale), int(width * scale))
    above = None  # rows [y0 - halo, y0) of src as they were before the band above was written
    with Patched({**{n.module: n for n in norms}, **noises}):
        for band in _windows(height, width, tile, halo):
            y0, y1 = band[0].y0, band[0].y1
            rows = torch.empty_like(src[:, :, y0:y1]) if in_place else out[:, :, int(y0 * scale):int(y1 * scale)]
            for window in band:
                context.window = window
                crop = _crop(src, window)
                if in_place and above is not None:
                    left, right = window.cx0, window.cx0 + window.cw
                    crop = torch.cat([above[:, :, :, left:right], crop[:, :, y0 - window.cy0:]], 2)
                y = segment.fn(crop)
                keep_rows, keep_cols = window.kept(y.shape[2], y.shape[3])
                rows[:, :, :, int(window.x0 * scale):int(window.x1 * scale)] = y[:, :, keep_rows, keep_cols]
            if in_place:
                above = src[:, :, max(y0, y1 - halo):y1].clone() if halo else None
                src[:, :, y0:y1] = rows
    return out


def receptive_halo(segment: Segment, layout: _Layout, channels: int, device, dtype) -> int | None:
    """How far (in the segment's input pixels, rounded up to its ``multiple``) an output block of
    multiple × multiple pixels reads its input: the support of the gradient of that block, with
    the norm layers frozen, on a tall strip for rows and a wide one for columns. None when it
    reaches past every probe up to PROBE_LIMIT pixels (the output depends on the whole image)."""
    m = segment.multiple
    size = max(4 * m, 64)
    with torch.random.fork_rng(devices=[device] if torch.device(device).type == "cuda" else []):
        while size <= PROBE_LIMIT:
            reaches = [_reach(segment, layout, channels, device, dtype, size, wide) for wide in (False, True)]
            if None not in reaches:
                return -(-max(reaches) // m) * m
            size *= 2
    return None


def _reach(segment, layout, channels, device, dtype, size, wide):
    m = segment.multiple
    thin = max(2 * m, 16)
    shape = (1, channels, thin, size) if wide else (1, channels, size, thin)
    torch.manual_seed(0)
    x = torch.randn(shape, device=device, dtype=dtype)
    norms, _, context = measure_stats(segment, layout, x, max(shape), 0)
    centre = (size // 2) // m * m
    with Patched({n.module: n for n in norms}), torch.enable_grad():
        context.window = Window(0, 0, shape[2], shape[3], 0, shape[2], 0, shape[3])
        x.requires_grad_(True)
        y = segment.fn(x)
        s = layout.scale
        a, b = int(centre * s), int((centre + m) * s)
        block = y[:, :, :, a:b] if wide else y[:, :, a:b, :]
        (grad,) = torch.autograd.grad(block.abs().sum(), x)
    support = (grad.abs().sum((0, 1, 2 if wide else 3)) > 0).nonzero().flatten()
    lo, hi = int(support.min()), int(support.max())
    if lo == 0 or hi == size - 1:
        return None
    return max(centre - lo, hi - (centre + m - 1), 0)


def resnet_segments(net) -> list[Segment]:
    """The paper ResNet generator as encoder | each residual block | decoder: the bottleneck
    between them is 1/16 of the image's pixels at 4× its channels, small enough to keep whole."""
    taps = net.tap_indices()
    blocks = sorted(index for name, index in taps.items() if name.startswith("res"))
    if not blocks:
        return [Segment(net, [net], net.size_multiple)]
    model = net.model
    parts = [Segment(nn.Sequential(*model[:blocks[0]]), [model], net.size_multiple)]
    parts += [Segment(model[index], [model[index]], 1) for index in blocks]
    parts.append(Segment(nn.Sequential(*model[blocks[-1] + 1:]), [model], 1))
    return parts


# 512 keeps the paper CycleGAN generator near 0.5 GiB on whole images and a 4096×4096 one, tiled,
# under 3 GiB (benchmarks/translate_large.py); 1024-pixel tiles would add about 0.7 GiB.
DEFAULT_TILE = 512
# The ResNet generator's bottleneck is kept whole up to this size; above it (an image over about
# 5000×5000 at ngf 64) every norm layer reruns the network from the image instead: slower, but
# memory no longer grows with the image beyond the image itself.
KEEP_WHOLE_BYTES = 3 << 29


class Tiler:
    """Translates images larger than ``tile`` pixels a side tile by tile (see the module's
    docstring); smaller ones whole. What it learns about the networks (their norm layers, halos)
    is kept for the next image."""

    def __init__(self, translator, nets: dict, tile: int, multiple: int):
        self.translator, self.nets, self.multiple = translator, nets, multiple
        self.tile = -(-tile // multiple) * multiple
        self.requested = tile
        self.layouts: dict = {}

    def __call__(self, x: torch.Tensor, code=None) -> torch.Tensor:
        if not self.tile or max(x.shape[2], x.shape[3]) <= self.tile:
            return self.translator.run(self.nets, x, code)
        src, scale = x, Fraction(1)
        for k, (segment, layout) in enumerate(self._plan(x, code)):
            tile = int(self.tile * scale)
            in_place = k > 0 and layout.scale == 1 and layout.channels == src.shape[1]
            src = run_segment(segment, layout, src, tile, layout.halo, in_place=in_place)
            scale *= layout.scale
        return src

    def _plan(self, x: torch.Tensor, code) -> list:
        from .nets.resnet import ResnetGenerator
        from .specs import Translator

        nets, run = self.nets, self.translator.run
        # A translator made by Translator.of_network runs its one network on the image and nothing else.
        plain = getattr(run, "__code__", None) is Translator.of_network("G").run.__code__
        net = next(iter(nets.values()))
        if plain and len(nets) == 1 and isinstance(net, ResnetGenerator):
            segments = resnet_segments(net)
            layouts = self._layouts("split", segments, x)
            kept = layouts[0].channels * x.shape[2] * x.shape[3] * layouts[0].scale ** 2 * x.element_size()
            if len(segments) == 1 or kept <= KEEP_WHOLE_BYTES:
                return list(zip(segments, layouts))
        segments = [Segment(lambda t: run(nets, t, code), list(nets.values()), self.multiple)]
        return list(zip(segments, self._layouts("whole", segments, x)))

    def _layouts(self, key: str, segments: list, x: torch.Tensor) -> list[_Layout]:
        if key in self.layouts:
            return self.layouts[key]
        probe = x.new_zeros(x.shape[0], x.shape[1], 2 * self.multiple, 2 * self.multiple)
        layouts, scale, needed = [], Fraction(1), 0
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            for segment in segments:
                layout = _layout(segment, probe)
                layout.halo = receptive_halo(segment, layout, probe.shape[1], x.device, x.dtype)
                if layout.halo is None:
                    raise ConfigError(f"--tile: this network's output depends on pixels more than {PROBE_LIMIT // 2} "
                                      f"px away; translate it whole with --tile 0")
                needed = max(needed, int(-(-layout.halo // scale)))
                layouts.append(layout)
                probe = segment.fn(probe)
                scale *= layout.scale
        needed = -(-needed // self.multiple) * self.multiple
        if self.requested < needed:
            raise ConfigError(f"--tile {self.requested} is smaller than the halo this network needs ({needed} px, its "
                              f"receptive field); use --tile {needed} or more, or --tile 0 to translate whole images")
        self.layouts[key] = layouts
        return layouts
