"""SinCUT (Park, Efros, Zhang, Zhu, ECCV 2020): CUT trained on one image per domain, as the
reference code (``sincut_model.py``) trains it.

    networks:  G = StyleGAN2-style encoder/decoder (ngf 10, one downsampling, 3 + 3 residual blocks,
                   noise injection, no tanh), fully convolutional
               D = StyleGAN2 discriminator (ndf 8), one logit per crop
               F = PatchNCE's projection head, Linear(C, 256) → ReLU → Linear(256, 256) per tapped layer
    losses:    adversarial  non-saturating softplus GAN on D(fake_B)                  weight 1
               r1           (γ/2)·E‖∇_y D(y)‖² on real_B, γ = 1, every D step        weight 1
               patchnce     0.5·(NCE(real_A, fake_B) + NCE(real_B, idt_B))            weight 4
                            taps input, down1, res2 (indices 0, 2, 4); 1 patch per layer;
                            negatives from the whole minibatch; τ 0.07
               identity     |G(real_B) − real_B|₁                                     weight 1
    phases:    D step (adversarial halved, plus R1), then G step (G and F together, D frozen)
    optimiser: Adam lr 0.002, betas (0.0, 0.99) for G, D and F; batch 16
    schedule:  8 + 8 epochs of 100 000 crops (6 250 steps each): constant, then linear decay
    data:      one image per domain (a folder with one image in trainA/ and trainB/, or A.png,B.png);
               zoom-and-patch crops of the image size (zoom U(1/3, 1)); samples on the whole images
    init:      none: StyleGAN2 weights are N(0, 1) with equalised learning rate; F xavier-normal 0.02

The networks are sized for the crop, ``--image-size``: the paper's is 64. One G pass on
cat([real_A, real_B]) gives fake_B and idt_B; the whole test images (sample grids) differ in size,
so there G sees them one after the other. The image translated by ``i2i translate`` keeps its size.
"""
import torch

from i2i_core.errors import ConfigError
from i2i_core.recipe import (BuildOptions, DataSpec, NetSpec, OptimizerSpec, OptimSettings, Phase, Recipe,
                             Schedule, recipe)
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.identity import Identity
from i2i_plugins.patchnce import PatchNCE
from i2i_plugins.r1 import R1

# Crops of 32 pixels (the CLI's demo size; give --image-size 32 for a folder): about 0.4 s of one core per step.
TINY = {"nets.G.ngf": 2, "nets.D.ndf": 2, "data.batch_size": 8}


def translate(s):
    if s.real_A.shape != s.real_B.shape:
        return s.G(s.real_A), s.G(s.real_B)
    out = s.G(torch.cat([s.real_A, s.real_B]))
    n = s.real_A.shape[0]
    return out[:n], out[n:]


@recipe("sincut", "SinCUT (Park et al. 2020): CUT from a single image per domain, StyleGAN2-style networks")
def sincut(o: BuildOptions) -> Recipe:
    if o.in_channels != o.out_channels:
        raise ConfigError(f"sincut translates an image into its own size and feeds real_B to G, so both images need "
                          f"the same channels (A has {o.in_channels}, B has {o.out_channels})")
    r = Recipe(
        name="sincut",
        nets={
            "G": NetSpec(kind="stylegan2_generator", init="none",
                         kwargs=dict(in_channels=o.in_channels, out_channels=o.out_channels, ngf=10,
                                     image_size=o.image_size, n_blocks=6, n_downsampling=1)),
            "D": NetSpec(kind="stylegan2_discriminator", init="none",
                         kwargs=dict(in_channels=o.out_channels, ndf=8, image_size=o.image_size)),
        },
        products={("fake_B", "idt_B"): translate},
        phases=[Phase(name="D", optimizers=["D"]), Phase(name="G", optimizers=["G"], frozen=["D"])],
        optimizers={"G": OptimizerSpec(modules=["G"]), "D": OptimizerSpec(modules=["D"])},
        optim=OptimSettings(lr=0.002, betas=(0.0, 0.99)),
        schedule=Schedule(policy="linear", decay_start=0.5),
        data=DataSpec(paired=False, batch_size=16, epochs=16, preprocess="zoom_and_patch", flip=True),
        visuals=("real_A", "fake_B", "real_B", "idt_B"),
        translators={"AtoB": "G"},
        presets={"tiny": TINY},
    )
    r.add(Adversarial(mode="nonsaturating", terms=[("D", "real_B", "fake_B")]))
    r.add(R1(gamma=1.0, interval=1))  # on D and real_B, as the adversarial loss judges them
    r.add(PatchNCE(weight=4.0, layers=["input", "down1", "res2"], num_patches=1, temperature=0.07,
                   negatives_from_minibatch=True, identity=True,
                   pairs=[("G", "real_A", "fake_B")], identity_pairs=[("G", "real_B", "idt_B")]))
    r.add(Identity(weight=1.0, pairs=[("idt_B", "real_B")]))
    return r
