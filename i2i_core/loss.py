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


def product_names(value, arity: int | tuple[int, ...] | None = None, *, count: int | None = None,
                  what: str | None = None) -> tuple:
    """A plugin field's product names, as a tuple: the converter for fields that name products.

    ``arity=None``: one name or a non-empty list of names, ``"fake_B"`` or ``["fake_B", "fake_A"]``
    → ``("fake_B", "fake_A")``. ``arity=k`` (or a tuple of allowed lengths): a list of groups of k
    names, ``[["rec_A", "real_A"], ...]`` → ``(("rec_A", "real_A"), ...)``, possibly empty; one
    flat group of k names counts as a list of that one group. ``count``, when given, is the exact
    number of names (or groups). Anything else raises ``ValueError("<what>; got <value>")``, with
    ``what`` saying what was expected (a plugin names its field there). Use it as an attrs
    converter, so a bad ``--add`` value fails with that message alone::

        images: tuple = attrs.field(default=("fake_B",), converter=product_names)
        pairs: tuple = attrs.field(default=(), converter=functools.partial(
            product_names, arity=2, what="each pair is [output, target] product names"))
    """
    arities = (arity,) if isinstance(arity, int) else tuple(arity or ())
    if arity is None:
        expected = what or (f"expected a list of exactly {count} product names" if count is not None
                            else "expected a product name or a non-empty list of product names")
        names = (value,) if isinstance(value, str) else _as_tuple(value, expected)
        if not names or not all(isinstance(n, str) for n in names) or count not in (None, len(names)):
            raise ValueError(f"{expected}; got {_shown(value)!r}")
        return names
    lengths = " or ".join(str(k) for k in arities)
    expected = what or f"expected a list of [{lengths} product names] groups"
    groups = _as_tuple(value, expected)
    if groups and len(groups) in arities and all(isinstance(n, str) for n in groups):
        groups = (groups,)  # one flat group
    converted = []
    for group in groups:
        names = () if isinstance(group, str) else _as_tuple(group, expected)
        if len(names) not in arities or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{expected}; got {_shown(group)!r}")
        converted.append(names)
    if count not in (None, len(converted)):
        raise ValueError(f"{expected}, exactly {count} of them; got {_shown(value)!r}")
    return tuple(converted)


def _as_tuple(value, expected: str) -> tuple:
    try:
        return tuple(value)
    except TypeError:
        raise ValueError(f"{expected}; got {value!r}") from None


def _shown(value):
    return list(value) if isinstance(value, tuple) else value


@attrs.frozen
class Judgement:
    """How a recipe calls one of its discriminators: D(cat([condition, image])) on channels when
    it has a ``condition`` (pix2pix's D sees the input A beside the image), D(image) otherwise.
    ``real`` names the real image D learns to accept, ``fake`` the generated one it learns to
    reject (as D sees it: CycleGAN's pooled fake).

    The plugin that trains a discriminator declares this (:meth:`LossPlugin.judgements`); a plugin
    dropped into any recipe to work on its discriminators (R1, a gradient penalty) gets them from
    :meth:`Recipe.judgements <i2i_core.recipe.Recipe.judgements>`, without knowing that plugin.
    """

    discriminator: str
    real: str
    fake: str | None = None
    condition: str | None = None

    @property
    def key(self) -> tuple:
        """``(discriminator, real, condition)``: the key of :meth:`Step.judged
        <i2i_core.step.Step.judged>` and of ``LossPlugin.input_gradients``."""
        return (self.discriminator, self.real, self.condition)

    def reads(self) -> tuple:
        return tuple(name for name in (self.real, self.fake, self.condition) if name is not None)

    def __call__(self, step: "Step", image: torch.Tensor):
        """D's output on ``image`` (a real, a fake or a mix of them), after the detached condition."""
        if self.condition is not None:
            image = torch.cat([step.detached(self.condition), image], dim=1)
        return step.net(self.discriminator)(image)

    def judged_real(self, step: "Step", input_grad: bool = False):
        """(real image, D's output on it), judged once per phase for every plugin that asks
        (:meth:`Step.judged <i2i_core.step.Step.judged>`); with ``input_grad`` the image is a
        leaf that requires grad, so ∂D/∂real can be taken."""
        return step.judged(*self.key, input_grad=input_grad)


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
    # Named bundles of this plugin's settings for a recipe preset other than "paper" (as the
    # recipes' own presets): ``--add NAME`` under ``--preset tiny`` starts from presets["tiny"],
    # and the ``--add`` settings and ``--set`` still win. The paper defaults stay the fields'.
    presets: ClassVar[dict[str, dict]] = {}

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

    def judgements(self) -> tuple[Judgement, ...]:
        """How this plugin calls the recipe's discriminators, for plugins that work on them (R1):
        a GAN loss declares one :class:`Judgement` per discriminator and real image it judges."""
        return ()

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
