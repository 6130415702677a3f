"""What a network must offer, as structural types: any module with these methods fits.

A plugin that calls a network's methods says which protocol it needs in ``check(recipe)``, with
:func:`require`; a recipe whose network lacks them is then refused when it is built, with a
message naming the plugin, the network and the protocol's methods, instead of failing mid-step.

The check reads the network's *class*, without building it: a network kind is registered
(``i2i_networks`` hook) as a factory called with the NetSpec's keyword arguments, and

- a factory that is a class (the usual ``nn.Module`` subclass) is checked with ``issubclass``
  against the protocol: the class, or a base, must define every method the protocol lists, with
  those names (the signatures are not checked);
- a factory that is a function is checked against the class of its return annotation
  (``def my_generator(**kwargs) -> MyGenerator``);
- a function without a class as return annotation is not checked: the plugin finds out when it
  calls the network.

So a third-party network gets every plugin its methods fit by defining them on its class (for
PatchNCE, ``encode(x, layers)`` and ``tap_indices()`` as :class:`FeatureTaps` describes), and a
factory function should annotate the class it returns.
"""
from __future__ import annotations

import inspect
import typing
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import torch

from .errors import PluginError

if TYPE_CHECKING:
    from .recipe import Recipe


@runtime_checkable
class Generator(Protocol):
    """Translates an image: ``G(x)``, or ``G(x, code)`` for multimodal generators."""

    def __call__(self, x: torch.Tensor, *args) -> torch.Tensor: ...


@runtime_checkable
class FeatureTaps(Protocol):
    """A generator whose encoder exposes intermediate features for patch-wise losses (PatchNCE)."""

    def encode(self, x: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]: ...

    def tap_indices(self) -> dict[str, int]: ...


@runtime_checkable
class ContentStyleModel(Protocol):
    """A generator split into a content encoder, a style encoder and a decoder (MUNIT, DRIT)."""

    def encode_content(self, x: torch.Tensor) -> torch.Tensor: ...

    def encode_style(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LatentEncoder(Protocol):
    """An encoder returning the mean and log-variance of a Gaussian code (BicycleGAN, DRIT)."""

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Discriminator(Protocol):
    """Returns a logit map, or a list of maps for a multi-scale discriminator."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]: ...


def network_class(spec) -> type | None:
    """The class of the network a NetSpec builds (see the module docstring); None when the
    registered factory is a function with no class as its return annotation."""
    from . import plugins as registry

    factory = registry.get_network(spec.kind)
    if isinstance(factory, type):
        return factory
    try:
        returned = typing.get_type_hints(factory).get("return")
    except Exception:  # an annotation that does not resolve says nothing we can check
        return None
    return returned if isinstance(returned, type) else None


def satisfies(spec, protocol: type) -> bool:
    """Whether the network of ``spec`` (a NetSpec, or a built module) implements ``protocol``, a
    runtime-checkable protocol of this module; True when its class cannot be known."""
    if isinstance(spec, torch.nn.Module):
        return isinstance(spec, protocol)
    cls = network_class(spec)
    return cls is None or issubclass(cls, protocol)


def methods(protocol: type) -> list[str]:
    """The protocol's methods as calls, ``["encode(x, layers)", "tap_indices()"]``."""
    found = []
    for name, member in vars(protocol).items():
        if inspect.isfunction(member) and (name == "__call__" or not name.startswith("_")):
            params = list(inspect.signature(member).parameters.values())[1:]
            found.append(f"{name}({', '.join(str(p).split(':')[0] for p in params)})")
    return found


def require(plugin: str, recipe: "Recipe", network: str, protocol: type, hint: str = "") -> None:
    """Raise PluginError unless the recipe's network ``network`` implements ``protocol``.

    The message names the plugin, the network, the protocol with its methods, and what the
    network's class lacks; ``hint`` follows it (``"; resnet_generator has them"``).
    """
    spec = recipe.nets[network]
    if satisfies(spec, protocol):
        return
    cls = type(spec) if isinstance(spec, torch.nn.Module) else network_class(spec)
    wanted = methods(protocol)
    missing = [m for m in wanted if not any(m.split("(")[0] in vars(base) for base in cls.__mro__)]
    kind = f"network kind {spec.kind!r} ({cls.__name__})" if hasattr(spec, "kind") else cls.__name__
    raise PluginError(f"plugin {plugin!r} needs network {network!r} to implement {protocol.__name__} "
                      f"({', '.join(wanted)}), but {kind} lacks {', '.join(missing)}{hint}")
