"""The parts a recipe is made of: networks to build, optimisers, phases, schedule, data, translators.

Each is an attrs class whose fields are settings (``--set nets.G.ngf=32``, ``optim.D.lr_mult=0.5``,
``phase.G.every=2``, ``schedule.decay_start=0.5``, ``data.batch_size=4``).
"""
from __future__ import annotations

import warnings
from typing import Callable

import attrs
import torch
from attrs import validators as v

from . import plugins as registry
from .errors import ConfigError, message


@attrs.define(kw_only=True)
class NetSpec:
    """How to build one network: a registered kind, its keyword arguments and its initialisation."""

    kind: str
    kwargs: dict = attrs.field(factory=dict)
    init: str = attrs.field(default="normal", validator=v.in_(["normal", "xavier", "kaiming", "orthogonal", "none"]))
    init_gain: float = attrs.field(default=0.02, converter=float)

    def build(self, name: str = "net") -> torch.nn.Module:
        """The network, refused in one line naming its settings (``nets.NAME.KEY``) when they
        cannot make one: a negative size, an unknown norm, a width of 0 that leaves a layer empty."""
        from .nets import init_weights

        factory = registry.get_network(self.kind)
        negative = [key for key, value in self.kwargs.items() if _is_int(value) and value < 0]
        if negative:
            raise ConfigError(f"nets.{name}.{negative[0]} must be >= 0, got {self.kwargs[negative[0]]}")
        try:
            with warnings.catch_warnings():  # a width of 0 is refused below, in one line
                warnings.filterwarnings("ignore", "Initializing zero-element tensors")
                net = factory(**self.kwargs)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"nets.{name} ({self.kind}) cannot be built from its settings: {message(exc)}") from exc
        empty = [key for key, p in net.named_parameters() if p.numel() == 0]
        if empty:
            zeros = [f"nets.{name}.{key} = 0" for key, value in self.kwargs.items() if _is_int(value) and value == 0]
            raise ConfigError(f"nets.{name} ({self.kind}) has an empty layer {empty[0]}"
                              f"{' from ' + ', '.join(zeros) if zeros else ''}; widths must be at least 1")
        if self.init != "none":
            init_weights(net, self.init, self.init_gain)
        return net


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@attrs.define(kw_only=True)
class OptimSettings:
    """Base Adam settings shared by every optimiser of a recipe (each may scale or override them)."""

    lr: float = attrs.field(default=2e-4, converter=float, validator=v.gt(0.0))
    betas: tuple = attrs.field(default=(0.5, 0.999), converter=lambda b: tuple(float(x) for x in b),
                               validator=lambda inst, attribute, value: _check_betas(attribute, value))
    weight_decay: float = attrs.field(default=0.0, converter=float, validator=v.ge(0.0))


def _check_betas(attribute, value) -> None:
    """Adam's two decay rates, each in [0, 1) (PyTorch refuses the rest only when the optimiser is built)."""
    if value is not None and (len(value) != 2 or not all(0.0 <= b < 1.0 for b in value)):
        raise ValueError(f"'{attribute.name}' must be two numbers in [0, 1), such as [0.5, 0.999]; got {list(value)}")


def _optional_float(value):
    return None if value is None else float(value)


@attrs.define(kw_only=True)
class OptimizerSpec:
    """One Adam optimiser over the parameters of some networks or plugin modules."""

    modules: tuple = attrs.field(converter=tuple)
    lr_mult: float = attrs.field(default=1.0, converter=float, validator=v.gt(0.0))
    betas: tuple | None = attrs.field(default=None, converter=lambda b: None if b is None else tuple(float(x) for x in b),
                                      validator=lambda inst, attribute, value: _check_betas(attribute, value))
    weight_decay: float | None = attrs.field(default=None, converter=_optional_float, validator=v.optional(v.ge(0.0)))
    clip: float | None = attrs.field(default=None, converter=_optional_float, validator=v.optional(v.gt(0.0)))


@attrs.define(kw_only=True, eq=False)
class Translator:
    """How a trained recipe translates one direction at test time.

    run:         ``(nets, x, code) -> image``; ``code`` is None for a unimodal recipe.
    sample_code: ``(n, generator, device) -> codes`` for multimodal recipes (``--samples K``).
    style_code:  ``(nets, style_image) -> code``: the code of a reference image (``--style``).
    """

    nets: tuple = attrs.field(converter=tuple)
    run: Callable
    sample_code: Callable | None = None
    style_code: Callable | None = None

    @classmethod
    def of_network(cls, name: str) -> "Translator":
        return cls(nets=(name,), run=lambda nets, x, code: nets[name](x))


@attrs.define(kw_only=True)
class Phase:
    """One backward pass and the optimiser steps that follow it.

    frozen: networks whose parameters stop requiring gradients during the phase (the
            discriminators while the generators learn); the graph still flows through them.
    every:  run on every n-th iteration only (``every=3`` on the G phase gives three
            discriminator updates per generator update, each on a fresh batch).
    fresh:  recompute every product before this phase, with the weights the previous phases
            just stepped (a graph must not be reused after its weights changed in place).
    """

    name: str
    optimizers: tuple = attrs.field(converter=tuple)
    frozen: tuple = attrs.field(default=(), converter=tuple)
    every: int = attrs.field(default=1, converter=int, validator=v.ge(1))
    fresh: bool = False

    def runs_at(self, iteration: int) -> bool:
        return (iteration + 1) % self.every == 0


@attrs.define(kw_only=True)
class Schedule:
    """Learning-rate factor as a function of the step, with lengths as fractions of the run.

    linear:   constant until ``decay_start`` of the steps, then linear decay to 0 at the end
              (CycleGAN's 100 + 100 epochs is ``decay_start=0.5``).
    step:     multiply by ``gamma`` every ``step_size`` of the steps (MUNIT).
    constant: no decay.
    """

    policy: str = attrs.field(default="linear", validator=v.in_(["linear", "step", "constant"]))
    decay_start: float = attrs.field(default=0.5, converter=float, validator=[v.ge(0.0), v.le(1.0)])
    step_size: float = attrs.field(default=0.1, converter=float, validator=v.gt(0.0))
    gamma: float = attrs.field(default=0.5, converter=float, validator=v.gt(0.0))

    def factor(self, step: int, total: int) -> float:
        if self.policy == "constant":
            return 1.0
        if self.policy == "step":
            return self.gamma ** (step // max(1, round(self.step_size * total)))
        start = round(self.decay_start * total)
        return 1.0 - max(0, step - start) / max(1, total - start)


@attrs.define(kw_only=True)
class DataSpec:
    """How the recipe reads data: pairs or unpaired domains, batch and preprocessing, and how long.

    steps:  the run's length when neither ``--steps`` nor ``--epochs`` is given (a preset's
            calibrated length); None: ``epochs`` passes over the data.
    """

    paired: bool = False
    batch_size: int = attrs.field(default=1, converter=int, validator=v.ge(1))
    load_size: int | None = None
    preprocess: str = attrs.field(default="resize_and_crop",
                                  validator=v.in_(["resize_and_crop", "crop", "scale_width_and_crop", "none", "zoom_and_patch"]))
    flip: bool = True
    epochs: int = attrs.field(default=200, converter=int, validator=v.ge(1))
    steps: int | None = attrs.field(default=None, validator=v.optional([v.instance_of(int), v.ge(1)]))


@attrs.frozen
class ImageSizes:
    """The square training sizes (``--image-size``) a recipe's networks take: from ``low`` to
    ``high``, powers of two (a U-Net's depth is log2 of the size) or multiples of ``multiple``
    (a ResNet generator halves the size twice and doubles it back)."""

    low: int = 32
    high: int = 512
    powers_of_two: bool = True
    multiple: int = 4

    def accepts(self, size: int) -> bool:
        shape_ok = size & (size - 1) == 0 if self.powers_of_two else size % self.multiple == 0
        return self.low <= size <= self.high and shape_ok

    def __str__(self) -> str:
        kind = "a power of two" if self.powers_of_two else f"a multiple of {self.multiple}"
        return f"{kind} from {self.low} to {self.high}"

    def check(self, size: int, recipe: str) -> None:
        if not self.accepts(size):
            raise ConfigError(f"--image-size must be {self} for recipe {recipe!r}, got {size}")


@attrs.define(kw_only=True)
class BuildOptions:
    """What a recipe needs to know to choose its networks."""

    image_size: int = 256
    in_channels: int = 3
    out_channels: int = 3
    preset: str = "paper"
