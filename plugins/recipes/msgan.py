"""MSGAN (Mao, Lee, Tseng, Ma, Yang, CVPR 2019), its Pix2Pix variant on BicycleGAN's networks, as the
reference code (Pix2Pix-Mode-Seeking) trains it.

    networks:  G = U-Net (ngf 64, instance norm) with z (nz 8) at every level's input (where_add all);
                   depth log2(image size); no dropout (the option's default; the spec records no script)
               D = conditional 2-scale PatchGAN (ndf 64 and 32, instance norm) on cat([A, B]) channels
    products:  z, z2 ~ N(0, I_8) drawn independently for the same A
               fake_B, fake_B2 = G(A, z), G(A, z2)      (one batched G call)
    losses:    adversarial   lsgan on both samples: L_G = Σ_s MSE(D(A, fake_B), 1) + Σ_s MSE(D(A, fake_B2), 1)
                             L_D = fake1 + fake2 + 2 × real (each real term once per fake), no ½   weight 1
               paired_l1     |fake_B − B|₁ on the first sample only                             weight 10
               mode_seeking  1 / (mean|fake_B2 − fake_B| / mean|z2 − z| + 1e-5)                 weight 1
    phases:    G step (D frozen), then D step
    optimiser: Adam lr 2e-4, betas (0.5, 0.999), for G and for D; batch 1
    schedule:  constant for 100 epochs, then linear decay over 100
    init:      xavier normal, gain 0.02
    sampling:  ``i2i translate --samples K`` draws z ~ N(0, I)

There is no encoder, no KL and no latent regression: diversity comes from the mode-seeking term
alone. The reference trains facades/maps BtoA (``--direction BtoA``).

Expect a slow start: at the gain-0.02 init the two samples barely differ, so the code-form term
1/(d_I/d_z + 1e-5) starts near 300 and its gradient outweighs L1 and GAN by orders of magnitude;
Adam's second moment (β₂ 0.999) remembers those steps for about a thousand iterations. On the
demo at that init (ngf 8, 32², batch 2) the term fell from ~300 to ~10 within 200 steps while the L1 stayed
near its initial 0.55 for the first 600 steps (with ``mode_seeking.weight=0`` the same run's
L1 fell by a third in 150 steps); MSGAN issue #16 reports the same pull on a pix2pix model. The
``tiny`` preset starts G at gain 1 instead (see ``TINY``).
"""
import torch

from i2i_core.recipe import (BuildOptions, DataSpec, OptimizerSpec, OptimSettings, Phase, Recipe, Schedule,
                             Translator, recipe)
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.mode_seeking import ModeSeeking
from i2i_plugins.paired_l1 import PairedL1

from .bicyclegan import discriminator, generator, nz

# BicycleGAN's demo calibration for the networks they share (see bicyclegan.TINY): at gain 1 the
# two samples differ from step 0, so the code-form term starts near its working range.
TINY = {"nets.G.ngf": 16, "nets.G.nz": 2, "nets.D.ndf": 16, "nets.G.init_gain": 1.0, "data.steps": 2400,
        "schedule.decay_start": 1.0}


def two_samples(s):
    """(G(A, z), G(A, z2)) from one G call."""
    a = s.real_A
    return s.G(torch.cat([a, a]), torch.cat([s.z, s.z2])).chunk(2)


@recipe("msgan", "MSGAN (Mao et al. 2019), Pix2Pix variant: paired multimodal translation with mode seeking")
def msgan(o: BuildOptions) -> Recipe:
    r = Recipe(
        name="msgan",
        nets={"G": generator(o, dropout=False), "D": discriminator(o.in_channels + o.out_channels, o)},
        products={
            "z": lambda s: torch.randn(s.batch_size(), nz(r), device=s.real_A.device),
            "z2": lambda s: torch.randn(s.batch_size(), nz(r), device=s.real_A.device),
            ("fake_B", "fake_B2"): two_samples,
        },
        phases=[Phase(name="G", optimizers=["G"], frozen=["D"]), Phase(name="D", optimizers=["D"])],
        optimizers={"G": OptimizerSpec(modules=["G"]), "D": OptimizerSpec(modules=["D"])},
        optim=OptimSettings(lr=2e-4, betas=(0.5, 0.999)),
        schedule=Schedule(policy="linear", decay_start=0.5),
        data=DataSpec(paired=True, batch_size=1, epochs=200),
        visuals=("real_A", "real_B", "fake_B", "fake_B2"),
        presets={"tiny": TINY},
    )
    r.translators = {"AtoB": Translator(
        nets=("G",), run=lambda nets, x, code: nets["G"](x, code),
        sample_code=lambda n, generator, device: torch.randn(n, nz(r), generator=generator).to(device))}
    r.add(Adversarial(mode="lsgan", d_factor=1.0, condition="real_A",
                      terms=[("D", "real_B", "fake_B"), ("D", "real_B", "fake_B2")]))
    r.add(PairedL1(weight=10.0, pairs=[("fake_B", "real_B")]))
    r.add(ModeSeeking(weight=1.0, form="code", images=[("fake_B", "fake_B2")], codes=[("z", "z2")]))
    return r
