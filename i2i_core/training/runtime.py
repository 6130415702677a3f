"""Where and how fast the networks run: device, bf16 autocast, channels-last layout, torch.compile.

Nothing here changes process-wide state: dynamo's fallback to eager code for what it cannot
compile is switched on around each compiled call only, and a platform without torch.compile
trains eagerly after one warning.
"""
from __future__ import annotations

import warnings

import attrs
import torch

from ..device import default_device


@attrs.define(kw_only=True)
class Runtime:
    device: torch.device
    autocast: bool
    channels_last: bool
    compiled: bool

    @classmethod
    def choose(cls, device: str | None, precision: str, compile: str) -> "Runtime":
        """auto: bf16 autocast, channels-last and compile on CUDA; the plain fp32 path on CPU."""
        chosen = default_device(device)
        cuda = chosen.type == "cuda"
        return cls(device=chosen, autocast=precision == "bf16" or (precision == "auto" and cuda),
                   channels_last=cuda, compiled=compile == "on" or (compile == "auto" and cuda))

    def place(self, nets: dict) -> dict:
        """Move the networks to the device, in its memory layout."""
        for net in nets.values():
            net.to(self.device)
            if self.channels_last:
                net.to(memory_format=torch.channels_last)
        return nets

    def compile(self, nets: dict) -> None:
        if self.compiled:
            compile_networks(nets)

    def batch(self, batch: dict) -> dict:
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        return {k: t.to(self.device, non_blocking=True, memory_format=fmt) if t.dim() == 4
                else t.to(self.device, non_blocking=True) for k, t in batch.items()}

    def autocasting(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)


class _CompiledForward:
    """A network's compiled forward. Around each call dynamo falls back to the eager code for any
    graph it fails to compile (``suppress_errors``), as the process-wide switch would, without
    changing how dynamo behaves for anything else in the process."""

    def __init__(self, compiled):
        import torch._dynamo  # loaded once here, not on every call

        self.compiled = compiled

    def __call__(self, *args, **kwargs):
        with torch._dynamo.config.patch(suppress_errors=True):
            return self.compiled(*args, **kwargs)


def compile_networks(nets: dict) -> None:
    """``torch.compile`` each network's forward (its state dict keeps its keys); where torch.compile
    itself is unavailable (an old torch, an unsupported Python or platform), warn once, run eagerly."""
    for name, net in nets.items():
        try:
            compiled = torch.compile(net.forward)
        except Exception as exc:  # noqa: BLE001 - whatever the platform raises, training goes on eagerly
            warnings.warn(f"torch.compile unavailable ({exc}); training {name} and the rest eagerly")
            return
        net.forward = _CompiledForward(compiled)
