"""Weight initialisation of the references (the CycleGAN and CUT reference code, models/networks.py: init_weights)."""
from __future__ import annotations

import torch
from torch import nn

INIT_KINDS = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise every Conv*/Linear weight (by class name, like the references) and BatchNorm2d.

    Conv/Linear: ``normal`` N(0, gain), ``xavier`` xavier_normal(gain), ``kaiming``
    kaiming_normal(a=0, fan_in; gain ignored), ``orthogonal`` (gain); biases 0. BatchNorm2d: weight
    N(1, gain), bias 0. Buffers (blur filters, running stats) are left alone. Returns ``module``.
    """
    if kind not in INIT_KINDS:
        raise ValueError(f"unknown init kind {kind!r}; expected one of {', '.join(INIT_KINDS)}")

    def init_one(m: nn.Module) -> None:
        name = type(m).__name__
        weight = getattr(m, "weight", None)
        bias = getattr(m, "bias", None)
        if ("Conv" in name or "Linear" in name) and isinstance(weight, torch.Tensor):
            if kind == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if isinstance(bias, torch.Tensor):
                nn.init.zeros_(bias)
        elif "BatchNorm2d" in name and isinstance(weight, torch.Tensor):
            nn.init.normal_(weight, 1.0, gain)
            nn.init.zeros_(bias)

    module.apply(init_one)
    return module
