"""Shared pieces of the benchmarks: a trainer on random batches, and step timing."""
from __future__ import annotations

import statistics
import tempfile
import time

import torch

from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.training import Trainer, TrainOptions


def make_trainer(recipe: str, *, size: int, batch: int, preset: str = "paper", device: str = "cpu",
                 precision: str = "auto", compile: str = "auto", sets: dict | None = None) -> Trainer:
    build = BuildOptions(image_size=size, preset=preset)
    r = build_recipe(recipe, build, sets={"data.batch_size": batch, **(sets or {})})
    out = tempfile.mkdtemp(prefix="i2i-bench-")
    return Trainer(r, TrainOptions(data="demo:shapes-styles" if "styles" in recipe else "demo", out=out,
                                   steps=10 ** 9, device=device, precision=precision, compile=compile), build)


def random_batch(trainer: Trainer) -> dict:
    """A batch of the right shapes and layout, filled with noise (data loading is not measured)."""
    torch.manual_seed(0)
    return {k: (torch.rand_like(v) * 2 - 1) if v.is_floating_point() else v for k, v in trainer.batch_for(0).items()}


class Timer:
    """Times single training steps of one trainer; call ``step()`` alternately across configurations."""

    def __init__(self, trainer: Trainer):
        self.trainer, self.batch, self.iteration, self.times = trainer, random_batch(trainer), 0, []

    def step(self, record: bool = True) -> float:
        cuda = self.trainer.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.trainer.train_step(self.batch, self.iteration)
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        self.iteration += 1
        if record:
            self.times.append(elapsed)
        return elapsed

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)


def machine(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"
