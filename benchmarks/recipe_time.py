"""Seconds per training step of several recipes at one setting, interleaved, as ratios to the first.

Random batches (data loading excluded), warm-up first, then the median over timed steps; the
recipes take turns (A B C A B C ...) so that machine noise hits them alike.

    python benchmarks/recipe_time.py --recipes cut,cyclegan --size 64 --steps 10
"""
import argparse

from _common import Timer, machine, make_trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="cut,cyclegan", help="comma-separated; ratios are against the first")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    names = [name.strip() for name in args.recipes.split(",") if name.strip()]
    timers = {name: Timer(make_trainer(name, size=args.size, batch=args.batch, preset=args.preset, device=args.device))
              for name in names}
    for _ in range(args.warmup):
        for timer in timers.values():
            timer.step(record=False)
    for _ in range(args.steps):
        for timer in timers.values():
            timer.step()
    base = timers[names[0]].median
    print(f"preset {args.preset}, {args.size}x{args.size}, batch {args.batch}, {args.device}: {machine(args.device)}, "
          f"{args.steps} timed steps")
    print(f"{'recipe':12} {'median s/step':>14} {'min s/step':>11} {'ratio':>7}")
    for name, timer in timers.items():
        print(f"{name:12} {timer.median:14.4f} {timer.best:11.4f} {timer.median / base:7.2f}")


if __name__ == "__main__":
    main()
