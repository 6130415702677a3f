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


def weight_sums(modules: dict, device: torch.device) -> torch.Tensor:
    """A float64 sum of every module's weights, one entry per module, on ``device``."""
    zero = torch.zeros((), dtype=torch.float64, device=device)
    return torch.stack([sum((p.detach().to(device, torch.float64).sum() for p in m.parameters()), zero)
                        for m in modules.values()])


def diverged(sums: torch.Tensor, names: list, world: World) -> list[str]:
    """Names of the modules whose weight sums (:func:`weight_sums`) differ between processes.

    DDP keeps replicas equal only if every update goes through it; non-deterministic updates or a
    module trained outside it drift silently, so the trainer compares the sums at each checkpoint.
    Bit patterns are compared, so replicas holding the same NaN agree.
    """
    if not world.enabled or not names:
        return []
    bits = sums.view(torch.int64)
    gathered = [torch.empty_like(bits) for _ in range(world.size)]
    dist.all_gather(gathered, bits)
    differ = torch.stack(gathered).ne(bits).any(0).tolist()
    return [name for name, bad in zip(names, differ) if bad]


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


def shutdown(world: World) -> None:
    """Leave the process group once every rank is done (a rank exiting with gloo's threads still
    running aborts with "terminate called without an active exception")."""
    if world.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()
