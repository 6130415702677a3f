"""CUT and FastCUT (Park, Efros, Zhang, Zhu, ECCV 2020), as the reference code trains them.

    networks:  G = ResNet-9 (ngf 64, instance norm, no dropout), anti-aliased down- and upsampling
               D = PatchGAN 70×70 (n_layers 3, ndf 64, instance norm), anti-aliased
               F = PatchNCE's projection head, Linear(C, 256) → ReLU → Linear(256, 256) per tapped layer
    losses:    adversarial  lsgan on D(fake_B)                                      weight 1
               patchnce     CUT:     0.5·(NCE(real_A, fake_B) + NCE(real_B, idt_B))    weight 1
                            FastCUT: NCE(real_A, fake_B), flip-equivariant           weight 10
               NCE taps padded_input, down1_conv, down2_conv, res1, res5; 256 patches per layer;
               τ 0.07; negatives from the same image
    phases:    D step, then G step (G and F together, D frozen)
    optimiser: Adam lr 2e-4, betas (0.5, 0.999) for G, D and F; batch 1; no image pool
    schedule:  CUT constant for 200 epochs, then linear decay over 200; FastCUT 150 + 50
    init:      xavier-normal, gain 0.02 (G, D and F)

One G pass on cat([real_A, real_B]) gives fake_B and idt_B while the identity NCE is on (CUT;
at test time G sees real_A alone and idt_B is None). With ``patchnce.flip_equivariance`` (FastCUT)
a coin from torch's generator decides each step whether G's whole input is mirrored; the
``flipped`` product tells PatchNCE to mirror the query features back. While training, that same G
pass also records G's encoder maps of real_A and real_B at PatchNCE's tapped layers (products
``G_taps_real_A``, ``G_taps_real_B``): they are PatchNCE's keys, which it would otherwise compute
with two more encoder passes (not on FastCUT's mirrored steps, where G's maps are of the mirror).
"""
import torch
from torch import nn

from i2i_core.nets.resnet import ResnetGenerator
from i2i_core.recipe import (BuildOptions, DataSpec, ImageSizes, NetSpec, OptimizerSpec, OptimSettings, Phase, Recipe,
                             Schedule, recipe)
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.patchnce import PatchNCE, taps_product
from i2i_plugins.recipes.cyclegan import DEMO_LENGTH

# The demo's calibration: CycleGAN's length and batch (the claim compares them at equal steps and
# batch), its generator width, and patches enough for every location of the 8×8 layers.
TINY = {"nets.G.ngf": 16, "nets.G.n_blocks": 2, "nets.D.ndf": 16,
        "patchnce.layers": ["padded_input", "down1_conv", "down2_conv", "res1", "res2"],
        "patchnce.num_patches": 64, "patchnce.head_width": 64, **DEMO_LENGTH}


def _records_own_keys(net) -> bool:
    """Whether ``net``'s maps of real_A within its pass on cat([real_A, real_B]) are exactly what
    ``net.encode(real_A)`` gives: a ResNet generator whose layers treat each image alone (instance
    norm, no batch norm in training, no dropout drawing masks)."""
    mixing = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
    return isinstance(net, ResnetGenerator) and not any(isinstance(m, mixing) and m.training for m in net.modules())


def _cut_family(o: BuildOptions, name: str, nce_weight: float, fast: bool, epochs: int, decay_start: float) -> Recipe:
    def nce():
        return r.plugins["patchnce"]

    def with_identity(s) -> bool:
        return s.training and nce().identity and nce().weight > 0

    def flipped(s) -> bool:
        return s.training and nce().flip_equivariance and torch.rand(()).item() < 0.5

    def translate(s):
        x = torch.cat([s.real_A, s.real_B]) if with_identity(s) else s.real_A
        n = s.real_A.shape[0]
        # PatchNCE's keys are G's encoder maps of real_A and real_B, which this pass computes anyway
        # (not when G sees the mirrored input; nor outside training, where no NCE term is taken).
        taps = nce().tap_layers("G") if s.training and not s.flipped else None
        if taps and _records_own_keys(s.G):
            out, maps = s.G(x, taps=taps)
            keys_A, keys_B = [m[:n] for m in maps], ([m[n:] for m in maps] if out.shape[0] > n else None)
        else:
            out, keys_A, keys_B = s.G(x.flip(-1) if s.flipped else x), None, None
        return out[:n], (out[n:] if out.shape[0] > n else None), keys_A, keys_B

    r = Recipe(
        name=name,
        nets={
            "G": NetSpec(kind="resnet_generator", init="xavier",
                         kwargs=dict(in_channels=o.in_channels, out_channels=o.out_channels, ngf=64, n_blocks=9,
                                     norm="instance", dropout=False, antialias=True)),
            "D": NetSpec(kind="patchgan", init="xavier",
                         kwargs=dict(in_channels=o.out_channels, ndf=64, n_layers=3, norm="instance", antialias=True)),
        },
        products={"flipped": flipped,
                  ("fake_B", "idt_B", taps_product("G", "real_A"), taps_product("G", "real_B")): translate},
        phases=[Phase(name="D", optimizers=["D"]), Phase(name="G", optimizers=["G"], frozen=["D"])],
        optimizers={"G": OptimizerSpec(modules=["G"]), "D": OptimizerSpec(modules=["D"])},
        optim=OptimSettings(lr=2e-4, betas=(0.5, 0.999)),
        schedule=Schedule(policy="linear", decay_start=decay_start),
        data=DataSpec(paired=False, batch_size=1, epochs=epochs),
        visuals=("real_A", "fake_B"),
        translators={"AtoB": "G"},
        presets={"tiny": TINY},
        image_sizes=ImageSizes(powers_of_two=False, multiple=4),  # ResNet generators: any multiple of 4
    )
    r.add(Adversarial(mode="lsgan", terms=[("D", "real_B", "fake_B")]))
    # The identity path feeds real_B to G, so it needs both domains to have G's input channels.
    r.add(PatchNCE(weight=nce_weight, pairs=[("G", "real_A", "fake_B")], identity_pairs=[("G", "real_B", "idt_B")],
                   identity=not fast and o.in_channels == o.out_channels, flip_equivariance=fast))
    return r


@recipe("cut", "CUT (Park et al. 2020): one-sided unpaired translation with patchwise contrastive loss")
def cut(o: BuildOptions) -> Recipe:
    return _cut_family(o, "cut", nce_weight=1.0, fast=False, epochs=400, decay_start=0.5)


@recipe("fastcut", "FastCUT (Park et al. 2020): CUT without identity NCE, λ_NCE 10, flip-equivariance")
def fastcut(o: BuildOptions) -> Recipe:
    return _cut_family(o, "fastcut", nce_weight=10.0, fast=True, epochs=200, decay_start=0.75)
