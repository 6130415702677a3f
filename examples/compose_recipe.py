"""Compose a recipe in Python: the registered CycleGAN plus a loss term of your own, trained on demo data.

    python examples/compose_recipe.py --steps 10
"""
import argparse
import tempfile
from pathlib import Path

import attrs

from i2i_core import BuildOptions, LossPlugin, build_recipe
from i2i_core.training import Trainer, TrainOptions


@attrs.define(kw_only=True, eq=False)
class MeanColour(LossPlugin):
    """Keeps the translation's average colour near the target domain's.

        L_colour = mean_c |mean_{n,h,w} fake_B − mean_{n,h,w} real_B|
    """

    name = "mean_colour"

    def reads(self):
        return ("fake_B", "real_B")

    def loss(self, step, role):
        return (step.fake_B.mean(dim=(0, 2, 3)) - step.real_B.mean(dim=(0, 2, 3))).abs().mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a new temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="i2i-compose-"))

    # The demo settings of `i2i train --data demo`: tiny networks, 32×32 images, batch 8.
    build = BuildOptions(image_size=32, preset="tiny")
    recipe = build_recipe("cyclegan", build, sets={"data.batch_size": 8})
    recipe.add(MeanColour(weight=2.0))
    recipe.validate()  # checks the new plugin's reads against what CycleGAN produces

    Trainer(recipe, TrainOptions(data="demo", out=out, steps=args.steps, log_every=1), build).fit()
    print((out / "metrics.jsonl").read_text().splitlines()[-1])


if __name__ == "__main__":
    main()
