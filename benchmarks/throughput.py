"""Training throughput: s/iter, images/s and peak memory of the fast defaults against the plain
fp32 path (``--precision fp32 --compile off``, our stand-in for the reference), measured in one run.

    python benchmarks/throughput.py --device cuda                      # 256×256, batch 1, 4, 16
    python benchmarks/throughput.py --device cpu --quick               # small form for CPU machines
"""
import argparse
import gc

import torch

from _common import Timer, machine, make_trainer
from i2i_core import plugins as registry

RECIPES = ("cyclegan", "cut", "fastcut", "munit")


def peak_memory_gib(device: str) -> float | None:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 30
    return None


def measure(recipe, mode, size, batch, preset, device, warmup, steps):
    precision, compile = ("fp32", "off") if mode == "fp32" else ("auto", "auto")
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timer = Timer(make_trainer(recipe, size=size, batch=batch, preset=preset, device=device,
                               precision=precision, compile=compile))
    for _ in range(warmup):
        timer.step(record=False)
    for _ in range(steps):
        timer.step()
    result = (timer.median, timer.best, peak_memory_gib(device))
    del timer
    gc.collect()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny networks, 64×64, batch 1 and 4")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--batches", default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    size = args.size or (64 if args.quick else 256)
    batches = [int(b) for b in (args.batches or ("1,4" if args.quick else "1,4,16")).split(",")]
    preset = "tiny" if args.quick else "paper"
    warmup = args.warmup or (3 if args.quick else 15)
    steps = args.steps or (10 if args.quick else 30)
    known = registry.recipes()
    print(f"{preset} networks at {size}x{size}, {machine(args.device)}, median of {steps} steps after {warmup}")
    print(f"{'recipe':9} {'batch':>5} {'path':>5} {'s/iter':>8} {'min':>8} {'img/s':>8} {'peak GiB':>9} {'speed-up':>9}")
    for recipe in args.recipes.split(","):
        if recipe not in known:
            print(f"{recipe:9} not registered in this i2i; skipped")
            continue
        for batch in batches:
            plain = measure(recipe, "fp32", size, batch, preset, args.device, warmup, steps)
            fast = measure(recipe, "fast", size, batch, preset, args.device, warmup, steps)
            for path, (median, best, peak) in (("fp32", plain), ("fast", fast)):
                memory = "n/a" if peak is None else f"{peak:.2f}"
                print(f"{recipe:9} {batch:5d} {path:>5} {median:8.4f} {best:8.4f} {batch / median:8.1f} {memory:>9} "
                      f"{plain[0] / median:9.2f}")


if __name__ == "__main__":
    main()
