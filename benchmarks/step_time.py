"""Seconds per training step of a recipe, ``tiny`` against ``paper`` networks, measured in one run.

Random batches (data loading excluded), warm-up first, then the median over timed steps; the two
presets are interleaved (A B A B) so that machine noise hits both alike.

    python benchmarks/step_time.py --recipe cyclegan --size 64 --steps 10
"""
import argparse

from _common import Timer, machine, make_trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="cyclegan")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    timers = {preset: Timer(make_trainer(args.recipe, size=args.size, batch=args.batch, preset=preset,
                                         device=args.device)) for preset in ("tiny", "paper")}
    for timer in timers.values():
        for _ in range(args.warmup):
            timer.step(record=False)
    for _ in range(args.steps):
        for timer in timers.values():
            timer.step()
    base = timers["tiny"].median
    print(f"{args.recipe} {args.size}x{args.size} batch {args.batch}, {machine(args.device)}, {args.steps} timed steps")
    print(f"{'preset':8} {'median s/step':>14} {'min s/step':>11} {'ratio':>7}")
    for preset, timer in timers.items():
        print(f"{preset:8} {timer.median:14.4f} {timer.best:11.4f} {timer.median / base:7.2f}")


if __name__ == "__main__":
    main()
