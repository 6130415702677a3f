"""Multi-process training with ``torch.distributed`` under torchrun: DDP wrappers and collectives.

Every network call of a step goes through ``DistributedDataParallel``'s forward, including
methods other than ``forward`` (``encode``, ``decode`` ...), so that DDP prepares the gradient
reduction whatever a recipe calls. ``find_unused_parameters`` is on because a step calls a
network several times and some of its calls feed no backward (frozen discriminators).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str | None) -> tuple[World, str | None]:
    """Join the process group torchrun describes in the environment; (world, device to use)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=local_rank), device


class _Dispatch(torch.nn.Module):
    """Lets DDP's forward run any method of the wrapped network: ``ddp("encode", x, layers)``."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, method: str, *args, **kwargs):
        if method == "forward":
            return self.net(*args, **kwargs)  # __call__: hooks and a compiled forward apply
        return getattr(self.net, method)(*args, **kwargs)


class DistributedNet:
    """What a step sees of a network under DDP: calls and methods go through DDP, the rest is the network's."""

    def __init__(self, net: torch.nn.Module, device: torch.device):
        ids = [device.index] if device.type == "cuda" else None
        self._ddp = DistributedDataParallel(_Dispatch(net), device_ids=ids, find_unused_parameters=True)
        self.module = net

    def __call__(self, *args, **kwargs):
        return self._ddp("forward", *args, **kwargs)

    def __getattr__(self, name: str):
        attr = getattr(self.module, name)
        if callable(attr) and not hasattr(torch.nn.Module, name):
            return lambda *args, **kwargs: self._ddp(name, *args, **kwargs)
        return attr


def wrap(nets: dict, device: torch.device, world: World) -> dict:
    """The mapping a Step uses: DDP-wrapped networks where several processes train, else the networks."""
    if not world.enabled:
        return nets
    return {name: DistributedNet(net, device) if any(p.requires_grad for p in net.parameters()) else net
            for name, net in nets.items()}


def all_gather(obj, world: World) -> list:
    if not world.enabled:
        return [obj]
    out = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_(tensor: torch.Tensor, world: World, op=None) -> torch.Tensor:
    if world.enabled:
        dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
    return tensor


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()
