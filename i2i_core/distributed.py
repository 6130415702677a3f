"""Multi-process training with ``torch.distributed`` under torchrun: DDP wrappers and collectives.

One ``DistributedDataParallel`` wraps every trainable module, and each phase computes its loss
inside that module's forward (see :class:`PhaseSync`).
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


class _Phase(torch.nn.Module):
    """The one module DDP wraps: every trainable module of the run (networks and the modules
    plugins own), and a forward that computes one phase's loss."""

    def __init__(self, modules: dict):
        super().__init__()
        self.trained = torch.nn.ModuleDict({name.replace(".", "/"): module for name, module in modules.items()})

    def forward(self, compute):
        return compute()


class PhaseSync:
    """Runs a phase's loss computation inside DDP's forward when several processes train.

    A step calls a network many times, and some calls (``encode``, ``decode``) use only part of its
    weights; DDP, which finds the weights a backward will reach by walking the graph from its
    forward's output, needs one forward per backward whose output is the whole loss. Products
    computed in an earlier phase are part of that graph too, so they count wherever they are reused.
    ``find_unused_parameters`` is on because each phase trains only some of the modules.
    """

    def __init__(self, modules: dict, device: torch.device, world: World):
        trained = {name: m for name, m in modules.items() if any(p.requires_grad for p in m.parameters())}
        self._ddp = None
        if world.enabled and trained:
            ids = [device.index] if device.type == "cuda" else None
            self._ddp = DistributedDataParallel(_Phase(trained), device_ids=ids, find_unused_parameters=True)

    def __call__(self, compute):
        return compute() if self._ddp is None else self._ddp(compute)


def diverged(modules: dict, world: World) -> list[str]:
    """Names of the modules whose weights differ between processes (empty in one process).

    DDP keeps replicas equal only for what it wraps; a module trained outside it drifts silently,
    so the trainer compares a float64 sum of every module's weights across ranks at each checkpoint.
    """
    if not world.enabled or not modules:
        return []
    sums = torch.stack([sum((p.detach().double().sum() for p in m.parameters()), torch.zeros((), dtype=torch.float64,
                                                                                            device=_device_of(m)))
                        for m in modules.values()])
    gathered = [torch.empty_like(sums) for _ in range(world.size)]
    dist.all_gather(gathered, sums)
    differ = torch.stack(gathered).ne(sums).any(0).tolist()
    return [name for name, bad in zip(modules, differ) if bad]


def _device_of(module: torch.nn.Module) -> torch.device:
    return next((p.device for p in module.parameters()), torch.device("cpu"))


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
