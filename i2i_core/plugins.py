"""The plugin manager: loads the ``i2i`` entry-point group and builds the registries from hooks.

``I2I_DISABLE_PLUGIN_AUTOLOAD=1`` skips the entry points of other distributions (as pytest's
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``); the built-ins always load.
"""
from __future__ import annotations

import functools
import importlib
import os
from importlib import metadata

import pluggy

from . import hooks
from .errors import PluginError

GROUP = "i2i"
BUILTIN_DISTRIBUTION = "i2i"
BUILTIN_MODULE = "i2i_plugins.builtin"


def _entry_points():
    """(distribution name, entry point) pairs of the ``i2i`` group, in a stable order."""
    found = []
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == GROUP:
                found.append((dist.metadata["Name"], ep))
    found.sort(key=lambda pair: (pair[0] != BUILTIN_DISTRIBUTION, pair[0], pair[1].name))
    return found


@functools.lru_cache(maxsize=None)
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hooks.PROJECT)
    pm.add_hookspecs(hooks)
    autoload = os.environ.get("I2I_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    seen_modules = set()
    for dist_name, ep in _entry_points():
        if dist_name != BUILTIN_DISTRIBUTION and not autoload:
            continue
        if ep.value in seen_modules:  # the same distribution visible twice on sys.path
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party package must not hide which one it is
            raise PluginError(f"entry point {ep.name!r} of distribution {dist_name!r} failed to load: {exc}") from exc
        seen_modules.add(ep.value)
        pm.register(plugin, name=f"{dist_name}:{ep.name}")
    if BUILTIN_MODULE not in seen_modules:
        # Running from a source tree that was never pip-installed: no metadata to find the
        # built-ins by, so load them by module name rather than fail.
        pm.register(importlib.import_module(BUILTIN_MODULE), name=f"{BUILTIN_DISTRIBUTION}:builtin")
    return pm


def _collect(hook_name: str):
    """Yield (distribution, item) for every item every plugin returns from a registration hook."""
    pm = plugin_manager()
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):  # registration order
        distribution = impl.plugin_name.split(":", 1)[0]
        result = impl.function()
        items = result.items() if isinstance(result, dict) else [(None, item) for item in result or ()]
        for key, item in items:
            yield distribution, key, item


def _registry(hook_name: str, key_of) -> dict:
    table, owner = {}, {}
    for distribution, key, item in _collect(hook_name):
        name = key if key is not None else key_of(item)
        if not name:
            raise PluginError(f"{distribution} registers a {hook_name} item without a name: {item!r}")
        if name in table:
            raise PluginError(f"{hook_name}: name {name!r} is registered by both {owner[name]} and {distribution}")
        table[name], owner[name] = item, distribution
    return {"items": table, "owners": owner}


@functools.lru_cache(maxsize=None)
def _losses():
    return _registry("i2i_losses", lambda cls: getattr(cls, "name", None))


@functools.lru_cache(maxsize=None)
def _recipes():
    return _registry("i2i_recipes", lambda factory: getattr(factory, "name", None))


@functools.lru_cache(maxsize=None)
def _networks():
    return _registry("i2i_networks", lambda factory: None)


@functools.lru_cache(maxsize=None)
def _metrics():
    return _registry("i2i_metrics", lambda factory: None)


@functools.lru_cache(maxsize=None)
def _loggers():
    return _registry("i2i_loggers", lambda factory: None)


def losses() -> dict:
    """Registered loss plugin classes by name."""
    return dict(_losses()["items"])


def loss_distributions() -> dict:
    """The distribution that registered each loss plugin, by plugin name."""
    return dict(_losses()["owners"])


def recipes() -> dict:
    """Registered recipe factories by name (a namespace separate from loss plugins)."""
    return dict(_recipes()["items"])


def networks() -> dict:
    return dict(_networks()["items"])


def metrics() -> dict:
    return dict(_metrics()["items"])


def loggers() -> dict:
    """Registered run loggers (``i2i train --log NAME``) by name."""
    return dict(_loggers()["items"])


def _lookup(table: dict, name: str, what: str):
    if name not in table:
        raise PluginError(f"unknown {what} {name!r}; valid: {', '.join(sorted(table))}")
    return table[name]


def get_loss(name: str):
    return _lookup(losses(), name, "loss plugin")


def get_recipe(name: str):
    return _lookup(recipes(), name, "recipe")


def get_network(kind: str):
    return _lookup(networks(), kind, "network kind")


def reset():
    """Forget every loaded plugin (tests that install a package, then look again)."""
    for cached in (plugin_manager, _losses, _recipes, _networks, _metrics, _loggers):
        cached.cache_clear()
    importlib.invalidate_caches()


def hook():
    """The hook relay for event hooks: ``hook().i2i_step_end(trainer=..., ...)``."""
    return plugin_manager().hook
