"""CUT's PatchNCE dropped into CycleGAN in Python (``i2i train cyclegan --add patchnce`` does the same).

    python examples/patchnce_in_cyclegan.py --steps 5

PatchNCE finds CycleGAN's translators itself: NCE(real_A, fake_B) and NCE(real_B, idt_B) on G_AB,
mirrored on G_BA, each generator with a projection head of its own, trained by an optimiser
``F`` that joins the generator phase.
"""
import argparse
import tempfile
from pathlib import Path

from i2i_core import BuildOptions, build_recipe
from i2i_core.training import Trainer, TrainOptions
from i2i_plugins.patchnce import PatchNCE


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a new temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="i2i-patchnce-"))

    # The demo settings of `i2i train --data demo`: tiny networks, 32×32 images, batch 8.
    build = BuildOptions(image_size=32, preset="tiny")
    recipe = build_recipe("cyclegan", build, sets={"data.batch_size": 8})
    # The tiny generators have two residual blocks, so CUT's res5 tap is their last one (res2).
    recipe.add(PatchNCE(weight=1.0, num_patches=64, head_width=64))
    recipe.validate()
    print("PatchNCE on", recipe.plugins["patchnce"].pairs + recipe.plugins["patchnce"].identity_pairs)

    Trainer(recipe, TrainOptions(data="demo", out=out, steps=args.steps, log_every=1), build).fit()
    print((out / "metrics.jsonl").read_text().splitlines()[-1])


if __name__ == "__main__":
    main()
