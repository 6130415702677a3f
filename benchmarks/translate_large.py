"""Time and peak memory of ``i2i translate`` on large images, tiled against untiled.

The paper CycleGAN generator (ResNet-9, ngf 64, reference init; the weights do not change the
cost) on random images. Each case runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``, which includes torch itself) is its own; the tiled case also reports its largest
difference from the untiled output where that was computed.

    python benchmarks/translate_large.py                       # 1024², 2048², 4096²; untiled up to 2048²
    python benchmarks/translate_large.py --sizes 256 --tile 128 --untiled-max 256   # seconds
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def case(size: int, tile: int, threads: int, reference: str | None, save: str | None) -> dict:
    import resource

    import torch

    from i2i_core.nets import ResnetGenerator, init_weights
    from i2i_core.recipe import Translator
    from i2i_core.translate import make_tiler, translate_image

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=64, n_blocks=9).eval()
    init_weights(net, "normal", 0.02)
    translator, nets = Translator.of_network("G"), {"G": net}
    image = torch.rand(3, size, size) * 2 - 1
    start = time.perf_counter()
    out = translate_image(translator, nets, image, tiler=make_tiler(translator, nets, tile))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux
    result = {"size": size, "tile": tile, "seconds": seconds, "peak_gib": peak}
    if save:
        torch.save(out, save)
    if reference and os.path.exists(reference):
        result["max_diff"] = float((out - torch.load(reference, weights_only=True)).abs().max()) / 2  # on the [0, 1] scale
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--tile", type=int, default=512, help="--tile of the tiled cases")
    parser.add_argument("--untiled-max", type=int, default=2048, help="largest size also run whole")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(**json.loads(args.case))))
        return
    import torch

    print(f"paper CycleGAN generator (ResNet-9, ngf 64), CPU, {args.threads} threads, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print(f"{'size':>6} {'mode':>10} {'seconds':>9} {'peak GiB':>9} {'max |diff|':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            reference = os.path.join(tmp, f"{size}.pt")
            modes = ([("untiled", 0)] if size <= args.untiled_max else []) + [(f"tile {args.tile}", args.tile)]
            for name, tile in modes:
                spec = {"size": size, "tile": tile, "threads": args.threads,
                        "reference": None if tile == 0 else reference, "save": reference if tile == 0 else None}
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
                done = subprocess.run([sys.executable, __file__, "--case", json.dumps(spec)], capture_output=True,
                                      text=True, env=env)
                if done.returncode != 0:
                    print(f"{size:>6} {name:>10} failed: {done.stderr.strip().splitlines()[-1:]}")
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                diff = f"{row['max_diff']:.2e}" if "max_diff" in row else "-"
                print(f"{size:>6} {name:>10} {row['seconds']:9.1f} {row['peak_gib']:9.2f} {diff:>11}", flush=True)


if __name__ == "__main__":
    main()
