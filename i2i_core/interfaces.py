"""What a network must offer, as structural types: any module with these methods fits."""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch


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
