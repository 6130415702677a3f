"""Where tensors run: shared by training and inference (translate, eval), which import nothing of training."""
from __future__ import annotations

import torch

from .errors import ConfigError


def default_device(requested: str | None) -> torch.device:
    """``requested`` (``cpu``, ``cuda``, ``cuda:1``) when it is available, else CUDA when present, else CPU."""
    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda requested but torch sees no CUDA device")
        try:
            return torch.device(requested)
        except RuntimeError:
            raise ConfigError(f"--device {requested!r} is not a device; use cpu, cuda or cuda:N") from None
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
