"""Recipes: networks + products + loss plugins + phases + optimisers, validated when built.

A recipe module reads like its paper's loss table (see ``i2i_plugins/recipes/cyclegan.py``).
Every hyper-parameter lives in one tree of attrs objects, addressed by dotted keys
(``cycle.weight``, ``nets.G_AB.ngf``, ``optim.lr``, ``optim.D.lr_mult``, ``data.batch_size``),
which is what ``--set``, presets and ``config.json`` read and write.
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable

import attrs
import torch
from attrs import validators as v

from . import plugins as registry
from .errors import ConfigError, PluginError
from .loss import LossPlugin, settable_fields

PRESETS_DOC = {"paper": "the reference settings (default)", "tiny": "small widths and blocks for CPU demos and tests"}


@attrs.define(kw_only=True)
class NetSpec:
    """How to build one network: a registered kind, its keyword arguments and its initialisation."""

    kind: str
    kwargs: dict = attrs.field(factory=dict)
    init: str = attrs.field(default="normal", validator=v.in_(["normal", "xavier", "kaiming", "orthogonal", "none"]))
    init_gain: float = attrs.field(default=0.02, converter=float)

    def build(self) -> torch.nn.Module:
        from .nets import init_weights

        factory = registry.get_network(self.kind)
        try:
            net = factory(**self.kwargs)
        except TypeError as exc:
            raise ConfigError(f"network kind {self.kind!r}: {exc}") from exc
        if self.init != "none":
            init_weights(net, self.init, self.init_gain)
        return net


@attrs.define(kw_only=True)
class OptimSettings:
    """Base Adam settings shared by every optimiser of a recipe (each may scale or override them)."""

    lr: float = attrs.field(default=2e-4, converter=float, validator=v.gt(0.0))
    betas: tuple = attrs.field(default=(0.5, 0.999), converter=lambda b: tuple(float(x) for x in b))
    weight_decay: float = attrs.field(default=0.0, converter=float, validator=v.ge(0.0))


def _optional_float(value):
    return None if value is None else float(value)


@attrs.define(kw_only=True)
class OptimizerSpec:
    """One Adam optimiser over the parameters of some networks or plugin modules."""

    modules: tuple = attrs.field(converter=tuple)
    lr_mult: float = attrs.field(default=1.0, converter=float, validator=v.gt(0.0))
    betas: tuple | None = attrs.field(default=None, converter=lambda b: None if b is None else tuple(float(x) for x in b))
    weight_decay: float | None = attrs.field(default=None, converter=_optional_float)
    clip: float | None = attrs.field(default=None, converter=_optional_float)


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
    gamma: float = attrs.field(default=0.5, converter=float)

    def factor(self, step: int, total: int) -> float:
        if self.policy == "constant":
            return 1.0
        if self.policy == "step":
            return self.gamma ** (step // max(1, round(self.step_size * total)))
        start = round(self.decay_start * total)
        return 1.0 - max(0, step - start) / max(1, total - start)


@attrs.define(kw_only=True)
class DataSpec:
    """How the recipe reads data: pairs or unpaired domains, batch and preprocessing."""

    paired: bool = False
    batch_size: int = attrs.field(default=1, converter=int, validator=v.ge(1))
    load_size: int | None = None
    preprocess: str = attrs.field(default="resize_and_crop",
                                  validator=v.in_(["resize_and_crop", "crop", "scale_width_and_crop", "none", "zoom_and_patch"]))
    flip: bool = True
    epochs: int = attrs.field(default=200, converter=int, validator=v.ge(1))


@attrs.define(kw_only=True)
class BuildOptions:
    """What a recipe needs to know to choose its networks."""

    image_size: int = 256
    in_channels: int = 3
    out_channels: int = 3
    preset: str = "paper"


def _as_product_key(key) -> tuple:
    return (key,) if isinstance(key, str) else tuple(key)


@attrs.define(kw_only=True, eq=False)
class Recipe:
    """A method from the literature: what to build, what to compute, what to minimise, in which order."""

    name: str
    nets: dict = attrs.field(factory=dict)
    products: dict = attrs.field(factory=dict, converter=lambda d: {_as_product_key(k): f for k, f in d.items()})
    plugins: dict = attrs.field(factory=dict)
    phases: list = attrs.field(factory=list)
    optimizers: dict = attrs.field(factory=dict)
    optim: OptimSettings = attrs.field(factory=OptimSettings)
    schedule: Schedule = attrs.field(factory=Schedule)
    data: DataSpec = attrs.field(factory=DataSpec)
    state: dict = attrs.field(factory=dict)
    inputs: tuple = ("real_A", "real_B")
    visuals: tuple = ("real_A", "fake_B", "rec_A")
    translators: dict = attrs.field(factory=lambda: {"AtoB": "G_AB"})
    presets: dict = attrs.field(factory=dict)

    # -- composition ---------------------------------------------------------------------------
    def add(self, plugin: LossPlugin, instance: str | None = None) -> str:
        """Add a loss plugin; returns the instance name (its registered name, suffixed if taken)."""
        if not isinstance(plugin, LossPlugin):
            raise PluginError(f"{plugin!r} is not a LossPlugin")
        instance = instance or _free_name(plugin.name, self.plugins)
        self.plugins[instance] = plugin
        plugin.setup(self, instance)
        return instance

    def product(self, outputs, fn: Callable) -> None:
        self.products[_as_product_key(outputs)] = fn

    def producible(self) -> set[str]:
        return set(self.inputs) | {name for key in self.products for name in key}

    def translator(self, direction: str) -> Translator:
        if direction not in self.translators:
            raise ConfigError(f"a {self.name} run translates only {', '.join(self.translators)}, not {direction}")
        found = self.translators[direction]
        return Translator.of_network(found) if isinstance(found, str) else found

    def phase(self, name: str) -> Phase:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise ConfigError(f"recipe {self.name!r} has no phase {name!r}; phases: {[p.name for p in self.phases]}")

    def active_plugins(self) -> dict:
        return {name: p for name, p in self.plugins.items() if p.weight > 0}

    # -- settings tree -------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Every settable hyper-parameter by dotted key, with its current value."""
        out = {}
        for name, spec in self.nets.items():
            out[f"nets.{name}.kind"] = spec.kind
            out[f"nets.{name}.init"] = spec.init
            out[f"nets.{name}.init_gain"] = spec.init_gain
            for key, value in spec.kwargs.items():
                out[f"nets.{name}.{key}"] = value
        for instance, plugin in self.plugins.items():
            for key, value in settable_fields(plugin).items():
                out[f"{instance}.{key}"] = value
        for key, value in settable_fields(self.optim).items():
            out[f"optim.{key}"] = value
        for name, spec in self.optimizers.items():
            for key, value in settable_fields(spec).items():
                if key != "modules":
                    out[f"optim.{name}.{key}"] = value
        for prefix, obj in (("schedule", self.schedule), ("data", self.data)):
            for key, value in settable_fields(obj).items():
                out[f"{prefix}.{key}"] = value
        for phase in self.phases:
            out[f"phase.{phase.name}.every"] = phase.every
        for name, obj in self.state.items():
            for key, value in settable_fields(obj).items():
                out[f"state.{name}.{key}"] = value
        return out

    def set(self, key: str, raw) -> None:
        """Set one dotted key; ``raw`` may be a string from the command line or a Python value."""
        current = self.settings()
        if key not in current:
            near = [k for k in current if k.split(".")[0] == key.split(".")[0]] or sorted(current)
            raise ConfigError(f"unknown setting {key!r} for recipe {self.name!r}; valid keys: {', '.join(near)}")
        value = coerce(raw, current[key], key)
        head, _, rest = key.partition(".")
        try:
            if head == "nets":
                name, field = rest.split(".", 1)
                spec = self.nets[name]
                if field in ("kind", "init", "init_gain"):
                    setattr(spec, field, value)
                else:
                    spec.kwargs[field] = value
            elif head == "optim" and "." in rest:
                name, field = rest.split(".", 1)
                setattr(self.optimizers[name], field, value)
            elif head == "phase":
                name, field = rest.split(".", 1)
                setattr(self.phase(name), field, value)
            elif head == "state":
                name, field = rest.split(".", 1)
                setattr(self.state[name], field, value)
            elif head in ("optim", "schedule", "data"):
                setattr(getattr(self, head), rest, value)
            else:
                setattr(self.plugins[head], rest, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid value {raw!r} for {key}: {exc}") from exc

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> "Recipe":
        producible = self.producible()
        phase_names = {p.name for p in self.phases}
        for instance, plugin in self.active_plugins().items():
            for name in plugin.reads():
                if name not in producible:
                    raise PluginError(
                        f"plugin {instance!r} reads {name!r}, which recipe {self.name!r} does not produce "
                        f"(it produces: {', '.join(sorted(producible))})")
            for net in tuple(plugin.networks()) + tuple(plugin.detach_from):
                if net not in self.nets:
                    raise PluginError(f"plugin {instance!r} needs network {net!r}, which recipe {self.name!r} "
                                      f"does not have (networks: {', '.join(self.nets)})")
            for role in plugin.roles:
                if plugin.phase_of(role) not in phase_names:
                    raise PluginError(f"plugin {instance!r} joins phase {plugin.phase_of(role)!r} (role {role}), "
                                      f"which recipe {self.name!r} does not have (phases: {', '.join(phase_names)})")
            plugin.check(self)
        owners = set(self.nets) | set(self.plugins)
        for name, spec in self.optimizers.items():
            for module in spec.modules:
                if module not in owners:
                    raise ConfigError(f"optimiser {name!r} of recipe {self.name!r} updates unknown module {module!r}")
        for phase in self.phases:
            for opt in phase.optimizers:
                if opt not in self.optimizers:
                    raise ConfigError(f"phase {phase.name!r} steps unknown optimiser {opt!r}")
            for net in phase.frozen:
                if net not in self.nets:
                    raise ConfigError(f"phase {phase.name!r} freezes unknown network {net!r}")
        return self

    def resolved(self) -> dict:
        """JSON-ready settings (what ``config.json`` records)."""
        return {key: _jsonable(value) for key, value in self.settings().items()}


def _free_name(base: str, taken) -> str:
    if base not in taken:
        return base
    k = 2
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(x) for x in value]
    if isinstance(value, dict):
        return {k: _jsonable(x) for k, x in value.items()}
    return value


def coerce(raw, current, key: str = "value"):
    """Turn a command-line string (or a JSON value) into the type of the current setting."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(current, str) and not isinstance(value, str):
            value = raw
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} expects true or false, got {raw!r}")
    if isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} expects an integer, got {raw!r}")
    if isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ConfigError(f"{key} expects a number, got {raw!r}")
    if isinstance(current, (tuple, list)):
        if isinstance(value, list):
            return tuple(value)
        if isinstance(value, str) and all(isinstance(x, str) for x in current):
            return (value,)  # a single name for a list of names
        raise ConfigError(f"{key} expects a JSON list such as [0.5, 0.999], got {raw!r}")
    if isinstance(current, str) and not isinstance(value, str):
        raise ConfigError(f"{key} expects a string, got {raw!r}")
    return value


# -- factories and the registry ---------------------------------------------------------------

@attrs.frozen
class RecipeFactory:
    """A registered recipe: a name, a one-line summary and a builder from :class:`BuildOptions`."""

    name: str
    summary: str
    build: Callable[[BuildOptions], Recipe]

    def __call__(self, options: BuildOptions | None = None) -> Recipe:
        return self.build(options or BuildOptions())


def recipe(name: str, summary: str):
    """Decorator turning ``def build(options) -> Recipe`` into a registrable :class:`RecipeFactory`."""
    def wrap(fn):
        return RecipeFactory(name=name, summary=summary, build=fn)
    return wrap


def parse_add(spec: str) -> tuple[str, dict]:
    """``"patchnce:weight=2,temperature=0.1"`` → ("patchnce", {"weight": "2", "temperature": "0.1"})."""
    name, _, rest = spec.partition(":")
    kwargs = {}
    for item in filter(None, _split_top_level(rest)):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--add {spec!r}: expected KEY=VALUE after the plugin name, got {item!r}")
        kwargs[key.strip()] = value.strip()
    return name.strip(), kwargs


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, so JSON lists can be values."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def build_recipe(name: str, options: BuildOptions | None = None, sets: dict | None = None,
                 adds: list | None = None) -> Recipe:
    """Build a registered recipe, apply its preset, add plugins, apply settings, validate."""
    options = options or BuildOptions()
    recipe_obj = registry.get_recipe(name)(options)
    if options.preset != "paper":
        if options.preset not in recipe_obj.presets:
            raise ConfigError(f"unknown preset {options.preset!r} for recipe {name!r}; "
                              f"valid: {', '.join(['paper', *recipe_obj.presets])}")
        for key, value in recipe_obj.presets[options.preset].items():
            recipe_obj.set(key, value)
    for spec in adds or ():
        plugin_name, kwargs = parse_add(spec) if isinstance(spec, str) else spec
        cls = registry.get_loss(plugin_name)
        plugin = make_plugin(cls, kwargs)
        recipe_obj.add(plugin)
    for key, value in (sets or {}).items():
        recipe_obj.set(key, value)
    return recipe_obj.validate()


def make_plugin(cls, kwargs: dict) -> LossPlugin:
    """Instantiate a plugin from string or typed keyword arguments, coerced to each field's default type."""
    defaults = {f.name: f.default for f in attrs.fields(cls)}
    typed = {}
    for key, raw in kwargs.items():
        if key not in defaults:
            raise ConfigError(f"plugin {cls.name!r} has no setting {key!r}; valid: {', '.join(defaults)}")
        default = defaults[key]
        default = default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[attr-defined]
        default = None if default is attrs.NOTHING else default
        typed[key] = coerce(raw, default, f"{cls.name}.{key}")
    try:
        return cls(**typed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"plugin {cls.name!r}: {exc}") from exc
