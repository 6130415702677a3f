"""Image history pool (Shrivastava et al. 2017), as CycleGAN uses it for its discriminator steps."""
from __future__ import annotations

import attrs
import torch
from attrs import validators as v


@attrs.define(kw_only=True, eq=False)
class ImagePool:
    """Keeps up to ``size`` past fakes; ``query`` returns, per image, either it or (p = 1/2) a stored one.

    ``size = 0`` bypasses the pool. Its contents and random stream are part of the checkpoint,
    so a resumed run sees the same history as one never stopped.
    """

    size: int = attrs.field(default=50, converter=int, validator=v.ge(0))
    _images: list = attrs.field(factory=list, init=False)
    _rng: torch.Generator = attrs.field(factory=torch.Generator, init=False)

    def reset(self, seed: int) -> None:
        self._images = []
        self._rng.manual_seed(seed)

    @torch.no_grad()
    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach().split(1):
            if len(self._images) < self.size:
                self._images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self._rng).item() > 0.5:
                k = int(torch.randint(self.size, (), generator=self._rng))
                out.append(self._images[k].clone())
                self._images[k] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict:
        stored = torch.cat(self._images).cpu() if self._images else torch.empty(0)
        return {"images": stored, "rng": self._rng.get_state()}

    def load_state_dict(self, state: dict, device=None) -> None:
        images = state["images"]
        self._images = list(images.to(device).split(1)) if images.numel() else []
        self._rng.set_state(state["rng"])
