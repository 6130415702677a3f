"""DDP scaling: images/s of 1, 2, ... processes at the same per-process batch, each run under
torchrun (NCCL on GPUs, gloo on CPU), and the speed-up against one process.

    python benchmarks/ddp.py --device cuda                    # 1 .. every visible GPU
    python benchmarks/ddp.py --device cpu --quick --max 2     # small form on CPU
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def worker(args):
    import torch.distributed as dist

    from _common import Timer, machine, make_trainer
    from i2i_core import distributed

    timer = Timer(make_trainer(args.recipe, size=args.size, batch=args.batch, preset=args.preset,
                               device=args.device, compile="off" if args.device == "cpu" else "auto"))
    for _ in range(args.warmup):
        timer.step(record=False)
    for _ in range(args.steps):
        timer.step()
    world = dist.get_world_size() if dist.is_initialized() else 1
    if not dist.is_initialized() or dist.get_rank() == 0:
        print(json.dumps({"world": world, "median": timer.median, "best": timer.best, "machine": machine(args.device)}))
    distributed.shutdown(timer.trainer.world)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", default="cyclegan")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max", type=int, default=None, help="largest number of processes")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.size = args.size or (32 if args.quick else 256)
    args.batch = args.batch or (4 if args.quick else 16)
    args.preset = args.preset or ("tiny" if args.quick else "paper")
    args.warmup = args.warmup or (3 if args.quick else 15)
    args.steps = args.steps or (10 if args.quick else 30)
    if args.worker:
        return worker(args)
    most = args.max or (torch.cuda.device_count() if args.device.startswith("cuda") else 2)
    rows = []
    for n in range(1, most + 1):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-port",
                   str(29600 + n), str(HERE / "ddp.py"), "--worker", "--device", args.device, "--recipe", args.recipe,
                   "--size", str(args.size), "--batch", str(args.batch), "--preset", args.preset,
                   "--warmup", str(args.warmup), "--steps", str(args.steps)]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // n))} if args.device == "cpu" else None
        out = subprocess.run(command, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"{n} process(es) failed")
        rows.append(json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1]))
    base = args.batch / rows[0]["median"]
    print(f"{args.recipe} {args.preset} {args.size}x{args.size}, batch {args.batch} per process, {rows[0]['machine']}")
    print(f"{'processes':>9} {'s/iter':>8} {'img/s':>8} {'speed-up':>9}")
    for row in rows:
        rate = row["world"] * args.batch / row["median"]
        print(f"{row['world']:9d} {row['median']:8.4f} {rate:8.1f} {rate / base:9.2f}")


if __name__ == "__main__":
    main()
