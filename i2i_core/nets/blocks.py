"""Shared building blocks: norm layers with the reference bias rule, and the blur down/up-samplers.

As the CUT reference code defines them, models/networks.py: Downsample, Upsample and get_filter
(blur filters), get_norm_layer and the bias rule of its generators (norm layers).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("instance", "batch", "none")
PADDINGS = ("reflect", "replicate", "zero")


def check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The norm module for ``norm``; "none" gives an Identity so Sequential indices stay put."""
    check_choice("norm", norm, NORMS)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    return nn.Identity()


def conv_bias_for(norm: str) -> bool:
    """Bias rule of the references: a conv followed by a norm has a bias only under instance norm.

    Batch norm's own shift makes the bias redundant; "none" inherits the same (odd) rule, so its
    inner convs have no bias either.
    """
    check_choice("norm", norm, NORMS)
    return norm == "instance"


def replicate_pad(x: torch.Tensor, amount: int) -> torch.Tensor:
    """Replicate-pad H and W of an N×C×H×W tensor by ``amount``, as the (N·C, H, W) planes.

    The same values and gradients as padding the 4-D tensor, but torch.compile's CPU backward
    breaks on a 4-D input: replication_pad2d_backward has no decomposition, so inductor calls the
    ATen kernel on the saved input, which it stores channels_last when convolutions share the
    graph; that kernel returns the gradient channels_last while its meta kernel promises
    contiguous strides (assert_size_stride fails). A 3-D tensor has no such layout."""
    n, c = x.shape[:2]
    return F.pad(x.flatten(0, 1), (amount,) * 4, mode="replicate").unflatten(0, (n, c))


class ReplicationPad2d(nn.Module):
    """``nn.ReplicationPad2d`` for N×C×H×W inputs that also compiles (see :func:`replicate_pad`)."""

    def __init__(self, amount: int):
        super().__init__()
        self.amount = amount

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return replicate_pad(x, self.amount)

    def extra_repr(self) -> str:
        return str(self.amount)


def padding_layers(padding: str, amount: int) -> list[nn.Module]:
    """Explicit padding modules before a conv; "zero" returns none (the conv pads itself)."""
    check_choice("padding", padding, PADDINGS)
    if padding == "reflect":
        return [nn.ReflectionPad2d(amount)]
    if padding == "replicate":
        return [ReplicationPad2d(amount)]
    return []


def _binomial_kernel(taps: list[float], channels: int, scale: float = 1.0) -> torch.Tensor:
    row = torch.tensor(taps, dtype=torch.float32)
    kernel = torch.outer(row, row) / row.sum() ** 2 * scale
    return kernel.expand(channels, 1, len(taps), len(taps)).clone()


class Downsample(nn.Module):
    """Anti-aliased stride-2 downsampling: [1,2,1]² blur per channel, reflect padding; ceil(H/2)."""

    def __init__(self, channels: int):
        super().__init__()
        # Persistent so the released CUT checkpoints (which contain it) load strictly.
        self.register_buffer("filt", _binomial_kernel([1, 2, 1], channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, self.filt, stride=2, groups=x.shape[1])


class Upsample(nn.Module):
    """Anti-aliased ×2 upsampling: transposed [1,3,3,1]² blur per channel; output exactly 2H × 2W."""

    def __init__(self, channels: int):
        super().__init__()
        # ×4 (= stride²) because zero-insertion leaves only one in four output taps non-zero.
        self.register_buffer("filt", _binomial_kernel([1, 3, 3, 1], channels, scale=4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = replicate_pad(x, 1)
        y = F.conv_transpose2d(x, self.filt, stride=2, padding=2, groups=x.shape[1])
        # The transposed conv gives 2H+2; dropping one row/column on each side centres it at 2H.
        return y[:, :, 1:-1, 1:-1]
