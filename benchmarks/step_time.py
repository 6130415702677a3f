"""Seconds per training step of a recipe, ``tiny`` against ``paper`` networks, measured in one run.

Random batches (data loading excluded), warm-up first, then the median over timed steps; the two
presets are interleaved (A B A B) so that machine noise hits both alike.

    python benchmarks/step_time.py --recipe cyclegan --size 64 --steps 10
"""
import argparse
import statistics
import time

import torch

from i2i_core.recipe import BuildOptions, build_recipe


class Runner:
    def __init__(self, recipe_name, preset, size, batch, device):
        from i2i_core.trainer import Trainer, TrainOptions

        build = BuildOptions(image_size=size, preset=preset)
        recipe = build_recipe(recipe_name, build, sets={"data.batch_size": batch})
        self.trainer = Trainer(recipe, TrainOptions(data="demo", out="/tmp/i2i-bench", steps=10 ** 6, device=device),
                               build)
        self.batch = {k: torch.randn_like(v) for k, v in self.trainer._batch_for(0).items()}
        self.iteration = 0

    def step(self) -> float:
        start = time.perf_counter()
        self.trainer.train_step(self.batch, self.iteration)
        if self.trainer.device.type == "cuda":
            torch.cuda.synchronize()
        self.iteration += 1
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="cyclegan")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    runners = {preset: Runner(args.recipe, preset, args.size, args.batch, args.device) for preset in ("tiny", "paper")}
    for runner in runners.values():
        for _ in range(args.warmup):
            runner.step()
    times = {preset: [] for preset in runners}
    for _ in range(args.steps):
        for preset, runner in runners.items():
            times[preset].append(runner.step())
    base = statistics.median(times["tiny"])
    print(f"{args.recipe} {args.size}x{args.size} batch {args.batch} on {args.device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.steps} timed steps")
    print(f"{'preset':8} {'median s/step':>14} {'min s/step':>11} {'ratio':>7}")
    for preset, values in times.items():
        median = statistics.median(values)
        print(f"{preset:8} {median:14.4f} {min(values):11.4f} {median / base:7.2f}")


if __name__ == "__main__":
    main()
