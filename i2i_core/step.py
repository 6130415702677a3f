"""The per-iteration namespace of named tensors.

``Step`` holds the batch, the networks and the recipe's product definitions. Reading a name
computes its product on first use and caches it, so every product is computed at most once per
step, whichever plugin or phase asks first. ``detached(name)`` gives a cached detached view for
discriminator phases: generator outputs are reused, never recomputed.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from .errors import I2IError


class ProductError(I2IError, KeyError):
    def __str__(self):  # KeyError would quote the message
        return self.args[0]


class Step:
    """Products, batch entries, networks and stateful objects of one training iteration.

    Attribute access resolves, in order: networks (``s.G_AB``), stateful objects (``s.pool_B``),
    then batch entries and products (``s.fake_B``); ``s["fake_B"]`` reads a tensor explicitly.
    """

    def __init__(self, batch: Mapping[str, Any], nets: Mapping[str, torch.nn.Module],
                 products: Mapping[tuple, Callable], state: Mapping[str, Any] | None = None,
                 index: int = 0, training: bool = True, input_grads: frozenset = frozenset(),
                 translators: Callable[[str], Any] | None = None):
        self._batch = dict(batch)
        self._nets = nets
        self._state = state or {}
        self._maker = {}  # output name -> (outputs tuple, function)
        for outputs, fn in products.items():
            for name in outputs:
                self._maker[name] = (outputs, fn)
        self._cache: dict[str, Any] = {}
        self._detached: dict[str, Any] = {}
        self._computing: list[str] = []
        self._judged: dict[tuple, tuple] = {}
        self._input_grads = input_grads
        self._translators = translators
        self.index = index
        self.training = training

    # -- names ---------------------------------------------------------------------------------
    def names(self) -> set[str]:
        return set(self._batch) | set(self._maker)

    def has(self, name: str) -> bool:
        return name in self._batch or name in self._maker

    def computed(self, name: str) -> bool:
        return name in self._batch or name in self._cache

    def __getitem__(self, name: str):
        if name in self._batch:
            return self._batch[name]
        if name in self._cache:
            return self._cache[name]
        if name not in self._maker:
            raise ProductError(f"no product or batch entry named {name!r}; known: {', '.join(sorted(self.names()))}")
        outputs, fn = self._maker[name]
        if name in self._computing:
            raise ProductError(f"product {name!r} depends on itself: {' -> '.join(self._computing + [name])}")
        self._computing.append(name)
        try:
            value = fn(self)
        finally:
            self._computing.pop()
        values = value if len(outputs) > 1 else (value,)
        if len(values) != len(outputs):
            raise ProductError(f"product {outputs} returned {len(values)} values instead of {len(outputs)}")
        self._cache.update(zip(outputs, values))
        return self._cache[name]

    def detached(self, name: str):
        """The product with its graph cut (cached), for discriminator phases."""
        if name not in self._detached:
            self._detached[name] = _detach(self[name])
        return self._detached[name]

    def judged(self, disc: str, name: str, condition: str | None = None, input_grad: bool = False):
        """(image, output) of discriminator ``disc`` on the detached product ``name`` (D sees it
        concatenated after the detached ``condition`` when given), computed once per phase for
        every plugin that asks: the adversarial loss and R1 share D(real).

        With ``input_grad`` the image is a fresh leaf that requires grad (the image alone, not
        the condition beside it). The trainer makes the shared judgement such a leaf from the
        start when a plugin lists ``(disc, name, condition)`` in ``input_gradients``; otherwise
        asking for it later judges again."""
        key = (disc, name, condition)
        cached = self._judged.get(key)
        if cached is None or (input_grad and not cached[0].requires_grad):
            image = self.detached(name)
            if input_grad or key in self._input_grads:
                image = image.detach().requires_grad_(True)  # the shared detached view must not track gradients
            seen = image if condition is None else torch.cat([self.detached(condition), image], dim=1)
            self._judged[key] = (image, self.net(disc)(seen))
        return self._judged[key]

    def translator(self, direction: str):
        """The recipe's :class:`~i2i_core.specs.Translator` for ``direction`` (``AtoB``, ``BtoA``), for
        plugins that generate their own images through it (mode seeking, DivCo)."""
        if self._translators is None:
            raise ProductError(f"this step was made without the recipe's translators; no {direction} translator")
        return self._translators(direction)

    def new_phase(self) -> None:
        """Networks change between phases: judgements made before are not reused."""
        self._judged.clear()

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._nets:
            return self._nets[name]
        if name in self._state:
            return self._state[name]
        return self[name]

    def net(self, name: str) -> torch.nn.Module:
        return self._nets[name]

    def batch_size(self) -> int:
        first = next(iter(self._batch.values()))
        return first.shape[0]

    def forget(self, names=None):
        """Drop cached products (all, or the given names) so they are recomputed on next use."""
        for name in list(self._cache if names is None else names):
            self._cache.pop(name, None)
            self._detached.pop(name, None)
        self._judged.clear()


def _detach(value):
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (list, tuple)):
        return type(value)(_detach(v) for v in value)
    return value
