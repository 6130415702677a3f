"""Recipes: networks + products + loss plugins + phases + optimisers, validated when built.

A recipe module reads like its paper's loss table (see ``i2i_plugins/recipes/cyclegan.py``).
Its parts are the specs of :mod:`i2i_core.specs`; every hyper-parameter is a dotted key of the
settings tree (:mod:`i2i_core.settings`), which ``--set``, presets and ``config.json`` use.

A plugin changes the recipe it joins only through the calls documented here
(:meth:`Recipe.add_optimizer`, :meth:`Recipe.add_phase`), from its ``setup``.
"""
from __future__ import annotations

from typing import Any, Callable

import attrs

from . import plugins as registry
from .errors import ConfigError, PluginError
from .loss import Judgement, LossPlugin
from .settings import apply_setting, make_plugin, parse_add, resolved, settings_of
from .specs import (BuildOptions, DataSpec, ImageSizes, NetSpec, OptimizerSpec, OptimSettings,  # noqa: F401 (re-exported)
                    Phase, Schedule, Translator)



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
    image_sizes: ImageSizes = attrs.field(factory=ImageSizes)  # what the CLI accepts as --image-size
    # fn(recipe) -> None, run by validate() once presets and --set have been applied: settings that
    # must agree (two networks' code sizes) fail there with a ConfigError naming both keys, before
    # any network is built, rather than as a shape error in the first step that uses them
    checks: list = attrs.field(factory=list)

    # -- composition ---------------------------------------------------------------------------
    def add(self, plugin: LossPlugin, instance: str | None = None) -> str:
        """Add a loss plugin; returns the instance name (its registered name, suffixed if taken)."""
        if not isinstance(plugin, LossPlugin):
            raise PluginError(f"{plugin!r} is not a LossPlugin")
        instance = instance or self.free_name(plugin.name, self.plugins)
        self.plugins[instance] = plugin
        plugin.setup(self, instance)
        return instance

    def free_name(self, base: str, taken) -> str:
        """``base``, or ``base_2``, ``base_3``, ... : the first that is not in ``taken``."""
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        return name

    def add_optimizer(self, spec: OptimizerSpec, name: str, *, phase: str | None = None) -> str:
        """Add an optimiser (a plugin's own modules: PatchNCE's heads) under ``name``, suffixed when
        taken; with ``phase``, that phase steps it too. Returns the name given."""
        name = self.free_name(name, self.optimizers)
        self.optimizers[name] = spec
        if phase is not None:
            for existing in self.phases:
                if existing.name == phase and name not in existing.optimizers:
                    existing.optimizers = existing.optimizers + (name,)
        return name

    def add_phase(self, name: str, optimizers, *, first: bool = False) -> Phase:
        """The phase ``name`` stepping ``optimizers`` as well, created (last, or ``first``) when the
        recipe has none of that name (DRIT's content discriminator gets its own first phase)."""
        for existing in self.phases:
            if existing.name == name:
                existing.optimizers = existing.optimizers + tuple(o for o in optimizers if o not in existing.optimizers)
                return existing
        phase = Phase(name=name, optimizers=list(optimizers))
        self.phases.insert(0 if first else len(self.phases), phase)
        return phase

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

    def judgements(self, plugin: str = "", discriminator: str = "") -> tuple[Judgement, ...]:
        """How this recipe calls its discriminators: the distinct :class:`Judgement` s its active
        plugins declare, in order; only those of ``discriminator`` when it is named. A plugin that
        works on the recipe's discriminators (R1) asks here in its ``check``, naming itself as
        ``plugin``: finding none is then a PluginError naming it and what there is."""
        found = tuple(dict.fromkeys(j for p in self.active_plugins().values() for j in p.judgements()))
        chosen = tuple(j for j in found if j.discriminator == discriminator) if discriminator else found
        if plugin and not chosen:
            names = ", ".join(dict.fromkeys(j.discriminator for j in found))
            if not found:
                raise PluginError(f"plugin {plugin!r} works on a discriminator, and recipe {self.name!r} trains none")
            raise PluginError(f"plugin {plugin!r}: recipe {self.name!r} has no discriminator {discriminator!r}; "
                              f"its discriminators: {names}")
        return chosen

    # -- settings tree (see i2i_core.settings) -------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Every settable hyper-parameter by dotted key, with its current value."""
        return settings_of(self)

    def set(self, key: str, raw) -> None:
        """Set one dotted key; ``raw`` may be a string from the command line or a Python value."""
        apply_setting(self, key, raw)

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> "Recipe":
        self._check_namespace()
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
        for check in self.checks:
            check(self)
        return self

    def _check_namespace(self) -> None:
        """A step resolves networks, stateful objects, then batch entries and products through one
        namespace (``s.G``, ``s.pool_B``, ``s.fake_B``): a name in two of them would hide one."""
        owners: dict[str, str] = {}
        for kind, names in (("network", self.nets), ("state", self.state), ("batch entry", self.inputs),
                            ("product", [n for key in self.products for n in key])):
            for name in names:
                if name in owners and owners[name] != kind:
                    raise ConfigError(f"recipe {self.name!r} names {name!r} both as a {owners[name]} and as a {kind}; "
                                      f"a step could reach only one of them")
                owners.setdefault(name, kind)

    def resolved(self) -> dict:
        """JSON-ready settings (what ``config.json`` records)."""
        return resolved(self)


def settings_agree(*keys: str, why: str) -> Callable[[Recipe], None]:
    """A check for :attr:`Recipe.checks`: the dotted settings ``keys`` must hold one value
    (``why`` says what reads them together). A value that no network could be built with (None,
    0, a negative size) is left to that network's own, more precise, error."""
    if len(keys) < 2:
        raise ValueError(f"settings_agree compares two or more settings, got {keys!r}")

    def check(recipe: Recipe) -> None:
        current = recipe.settings()
        unknown = [key for key in keys if key not in current]
        if unknown:
            raise ConfigError(f"recipe {recipe.name!r} checks setting {unknown[0]!r}, which it does not have")
        values = [current[key] for key in keys]
        if not all(buildable_size(value) for value in values) or all(value == values[0] for value in values):
            return
        given = ", ".join(f"{key}={value}" for key, value in zip(keys, values))
        raise ConfigError(f"recipe {recipe.name!r}: {given} differ; {why}: set them to the same value")
    return check


def buildable_size(value) -> bool:
    """A setting a network could be built with: anything but None, 0, a negative number or NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value > 0  # False for NaN too
    return value is not None


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


def build_recipe(name: str, options: BuildOptions | None = None, sets: dict | None = None,
                 adds: list | None = None, defaults: dict | None = None) -> Recipe:
    """Build a registered recipe, apply ``defaults`` (settings a preset may override: the demo's
    batch and length), its preset, add plugins (each from its own preset of the same name, if it
    has one), apply ``sets``, validate."""
    options = options or BuildOptions()
    recipe_obj = registry.get_recipe(name)(options)
    for key, value in (defaults or {}).items():
        recipe_obj.set(key, value)
    if options.preset != "paper":
        if options.preset not in recipe_obj.presets:
            raise ConfigError(f"unknown preset {options.preset!r} for recipe {name!r}; "
                              f"valid: {', '.join(['paper', *recipe_obj.presets])}")
        for key, value in recipe_obj.presets[options.preset].items():
            recipe_obj.set(key, value)
    for spec in adds or ():
        plugin_name, kwargs = parse_add(spec) if isinstance(spec, str) else spec
        cls = registry.get_loss(plugin_name)
        plugin = make_plugin(cls, {**cls.presets.get(options.preset, {}), **kwargs})
        recipe_obj.add(plugin)
    for key, value in (sets or {}).items():
        recipe_obj.set(key, value)
    return recipe_obj.validate()


