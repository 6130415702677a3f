"""pix2pix (Isola, Zhu, Zhou, Efros, CVPR 2017), as the reference code trains it.

    networks:  G = U-Net (ngf 64, batch norm, dropout 0.5 in the three innermost 512-channel
                   blocks); depth log2(image size), so 8 levels at 256² (unet_256), 5 at 32²
               D = PatchGAN 70×70 (n_layers 3, ndf 64, batch norm) on cat([A, B]) channels
    losses:    adversarial  vanilla (BCE with logits) conditional GAN     weight 1
               paired_l1    |fake_B − real_B|₁                            weight 100
    phases:    D step (D's loss halved), then G step (D frozen)
    optimiser: Adam lr 2e-4, betas (0.5, 0.999); batch 1; aligned pairs, same crop and flip
    schedule:  constant for 100 epochs, then linear decay to 0 over 100
    init:      N(0, 0.02); BatchNorm weights N(1, 0.02)
"""
from i2i_core.nets import unet_depth_for
from i2i_core.recipe import (BuildOptions, DataSpec, NetSpec, OptimizerSpec, OptimSettings, Phase, Recipe,
                             Schedule, recipe)
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.paired_l1 import PairedL1

TINY = {"nets.G.ngf": 16, "nets.D.ndf": 16}


@recipe("pix2pix", "pix2pix (Isola et al. 2017): paired translation, U-Net and conditional PatchGAN")
def pix2pix(o: BuildOptions) -> Recipe:
    r = Recipe(
        name="pix2pix",
        nets={
            "G": NetSpec(kind="unet", kwargs=dict(in_channels=o.in_channels, out_channels=o.out_channels,
                                                  num_downs=unet_depth_for(o.image_size), ngf=64, norm="batch",
                                                  dropout=True)),
            "D": NetSpec(kind="patchgan", kwargs=dict(in_channels=o.in_channels + o.out_channels, ndf=64,
                                                      n_layers=3, norm="batch")),
        },
        products={"fake_B": lambda s: s.G(s.real_A)},
        phases=[Phase(name="D", optimizers=["D"]), Phase(name="G", optimizers=["G"], frozen=["D"])],
        optimizers={"G": OptimizerSpec(modules=["G"]), "D": OptimizerSpec(modules=["D"])},
        optim=OptimSettings(lr=2e-4, betas=(0.5, 0.999)),
        schedule=Schedule(policy="linear", decay_start=0.5),
        data=DataSpec(paired=True, batch_size=1, epochs=200),
        visuals=("real_A", "fake_B", "real_B"),
        translators={"AtoB": "G"},
        presets={"tiny": TINY},
    )
    r.add(Adversarial(mode="vanilla", terms=[("D", "real_B", "fake_B")], condition="real_A"))
    r.add(PairedL1(weight=100.0))
    return r
