"""Registers i2i's built-in loss plugins, recipes and networks, through the same hooks a third party uses.

Discovery instead of lists: every public module of ``i2i_plugins`` contributes the LossPlugin
subclasses it defines, every module of ``i2i_plugins.recipes`` its recipe factories, and every
module of ``i2i_core.nets`` its ``NETWORK_KINDS``, and every module of ``i2i_plugins.loggers`` its
``LOGGERS``; a new built-in needs no line here. ``testing`` (test support) is not loaded.
"""
import importlib
import inspect
import pkgutil

from i2i_core.hooks import hookimpl


def _modules(package_name: str):
    package = importlib.import_module(package_name)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name not in ("builtin", "testing"):
            yield importlib.import_module(f"{package_name}.{info.name}")


@hookimpl
def i2i_losses():
    from i2i_core.loss import LossPlugin

    found = []
    for module in _modules("i2i_plugins"):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, LossPlugin) and obj.__module__ == module.__name__ and obj.name:
                found.append(obj)
    return found


@hookimpl
def i2i_recipes():
    from i2i_core.recipe import RecipeFactory

    return [obj for module in _modules("i2i_plugins.recipes") for obj in vars(module).values()
            if isinstance(obj, RecipeFactory)]


def _merged(package_name: str, table: str) -> dict:
    """The ``table`` dicts of the package's modules, merged."""
    found = {}
    for module in _modules(package_name):
        found.update(getattr(module, table, {}))
    return found


@hookimpl
def i2i_networks():
    return _merged("i2i_core.nets", "NETWORK_KINDS")


@hookimpl
def i2i_loggers():
    return _merged("i2i_plugins.loggers", "LOGGERS")


@hookimpl
def i2i_metrics():
    from i2i_core.metrics.registry import builtin_metrics

    return builtin_metrics()
