"""The ``LossPlugin`` base: one term of a training objective, usable in any recipe.

A plugin names the products it reads (``reads``), returns its unweighted term for each *role* it
plays (``G`` for the generator side, ``D`` for a discriminator side, or any other name), and may
own trainable modules (PatchNCE's projection head, DRIT's content discriminator). The recipe maps
roles onto its phases; the trainer multiplies every term by ``weight`` and sums per phase.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs
import torch
from attrs import validators as v

if TYPE_CHECKING:
    from .recipe import Recipe
    from .step import Step


def _phase_map(value) -> dict:
    return dict(value or {})


@attrs.define(kw_only=True, eq=False)
class LossPlugin:
    """Base class. Subclasses set ``name`` (the registered name) and usually ``roles``.

    Fields (attrs, validated on construction and on every ``--set``):
      weight:      multiplies every term the plugin returns; 0 switches the plugin off entirely
                   (its products are then never computed).
      phases:      role → phase overrides; a role with no entry joins the phase of the same name.
      detach_from: networks that must receive no gradient from this plugin's terms, although
                   the gradient still flows *through* them (BicycleGAN's frozen encoder).
    """

    name: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ("G",)

    weight: float = attrs.field(default=1.0, converter=float, validator=v.ge(0.0))
    phases: dict = attrs.field(factory=dict, converter=_phase_map)
    detach_from: tuple = attrs.field(default=(), converter=tuple)

    # -- what the plugin needs -----------------------------------------------------------------
    def reads(self) -> tuple[str, ...]:
        """Names of products or batch entries this plugin reads (checked when the recipe is built)."""
        return ()

    def networks(self) -> tuple[str, ...]:
        """Networks this plugin calls by name (checked when the recipe is built)."""
        return ()

    def check(self, recipe: "Recipe") -> None:
        """Raise :class:`~i2i_core.errors.PluginError` when the recipe cannot host this plugin.

        The recipe already checks ``reads`` and ``networks``; override to require more, such as
        a network capability (feature taps) or a latent code.
        """

    def setup(self, recipe: "Recipe", instance: str) -> None:
        """Called once when the plugin joins ``recipe`` as ``instance``: add optimisers or phases here."""

    # -- auxiliary trainable modules -----------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        """Trainable modules this plugin owns, by name (saved in checkpoints)."""
        return {}

    def materialize(self, step: "Step") -> None:
        """Create modules whose shapes depend on the data, from the first batch (before optimisers)."""

    def input_gradients(self, index: int) -> tuple[tuple[str, str, str | None], ...]:
        """The judgements (:meth:`Step.judged`: discriminator, product, condition) that step
        ``index`` differentiates with respect to the judged images, as R1 does; the others are
        not made differentiable."""
        return ()

    # -- the loss itself -------------------------------------------------------------------------
    def phase_of(self, role: str) -> str:
        return self.phases.get(role, role)

    def loss(self, step: "Step", role: str) -> torch.Tensor:
        """The unweighted scalar term for ``role`` computed from the step's products."""
        raise NotImplementedError(f"{type(self).__name__}.loss")


def summed(terms) -> torch.Tensor:
    """The sum of scalar loss terms. A few terms are added one by one: stacking one or two scalars
    costs more (stack, sum and their backward nodes, every step) than the additions."""
    terms = list(terms)
    if not terms:
        raise ValueError("summed() needs at least one loss term")
    if len(terms) > 4 or any(term.dim() for term in terms):  # long lists, or terms not yet reduced
        return torch.stack(terms).sum()
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def settable_fields(obj) -> dict:
    """The public attrs fields of a plugin (or any attrs settings object) with their values."""
    return {f.name: getattr(obj, f.name) for f in attrs.fields(type(obj)) if not f.name.startswith("_")}
