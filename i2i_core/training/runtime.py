"""Where and how fast the networks run: device, bf16 autocast, channels-last layout, torch.compile.

Nothing here changes process-wide state: a network that dynamo cannot compile runs eagerly from
its first call on, and the warning is given once per run.
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
        """Move the networks to the device (in its memory layout) and compile them when asked."""
        for net in nets.values():
            net.to(self.device)
            if self.channels_last:
                net.to(memory_format=torch.channels_last)
        if self.compiled:
            compile_networks(nets)
        return nets

    def batch(self, batch: dict) -> dict:
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        return {k: t.to(self.device, non_blocking=True, memory_format=fmt) if t.dim() == 4
                else t.to(self.device, non_blocking=True) for k, t in batch.items()}

    def autocasting(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)


class _CompiledForward:
    """A network's compiled forward that falls back to the eager one when its first call fails to
    compile, so a compiler problem (an old torch, no backend) never stops training."""

    def __init__(self, name: str, eager, warned: list):
        self.name, self.eager, self.warned = name, eager, warned
        self.compiled = torch.compile(eager)
        self.trusted = False

    def __call__(self, *args, **kwargs):
        if self.trusted:
            return self.compiled(*args, **kwargs)
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any compiler failure; the eager call below re-raises real errors
            if not self.warned:
                warnings.warn(f"torch.compile failed for {self.name} ({type(exc).__name__}: {exc}); "
                              f"running it eagerly")
                self.warned.append(self.name)
            self.compiled = self.eager
            out = self.eager(*args, **kwargs)
        self.trusted = True
        return out


def compile_networks(nets: dict) -> None:
    """``torch.compile`` each network's forward (its state dict keeps its keys)."""
    warned: list = []
    for name, net in nets.items():
        net.forward = _CompiledForward(name, net.forward, warned)
