"""A new recipe from scratch: one generator, one hinge-loss discriminator and a paired L1 term.

A "one-sided pix2pix" on the paired demo data, built from the core classes and built-in plugins.
Nothing is registered: the recipe lives in this file only.

    python examples/custom_recipe.py --steps 10
"""
import argparse
import tempfile
from pathlib import Path

from i2i_core import BuildOptions, DataSpec, NetSpec, OptimizerSpec, Phase, Recipe
from i2i_core.training import Trainer, TrainOptions
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.paired_l1 import PairedL1


def one_sided_gan() -> Recipe:
    recipe = Recipe(
        name="one_sided_gan",
        nets={
            "G": NetSpec(kind="resnet_generator", kwargs=dict(ngf=16, n_blocks=2)),
            "D": NetSpec(kind="patchgan", kwargs=dict(ndf=16, n_layers=2)),
        },
        products={"fake_B": lambda s: s.G(s.real_A)},
        # D learns first on the detached translation, then G learns with D frozen.
        phases=[Phase(name="D", optimizers=["D"]), Phase(name="G", optimizers=["G"], frozen=["D"])],
        optimizers={"G": OptimizerSpec(modules=["G"]), "D": OptimizerSpec(modules=["D"])},
        data=DataSpec(paired=True, batch_size=8),
        visuals=("real_A", "fake_B", "real_B"),
        translators={"AtoB": "G"},
    )
    recipe.add(Adversarial(mode="hinge", terms=[("D", "real_B", "fake_B")]))
    recipe.add(PairedL1(weight=10.0))
    return recipe.validate()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a new temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="i2i-custom-"))

    build = BuildOptions(image_size=32)  # only the data reads it: the networks above are fixed
    Trainer(one_sided_gan(), TrainOptions(data="demo", out=out, steps=args.steps, log_every=1), build).fit()
    print((out / "metrics.jsonl").read_text().splitlines()[-1])


if __name__ == "__main__":
    main()
