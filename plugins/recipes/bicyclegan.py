"""BicycleGAN (Zhu, Zhang, Pathak, Darrell, Efros, Wang, Shechtman, NeurIPS 2017), as the reference code
trains it, and DivCo-BicycleGAN (Liu et al., CVPR 2021) on top of it.

    networks:  G      = U-Net (ngf 64, instance norm, dropout 0.5 as every training script sets) with
                        the code z (nz 8) tiled and concatenated at every level's input (where_add all);
                        depth log2(image size)
               E      = ResNet encoder (resnet_256, nef 64, instance norm) of a B image → μ, log-variance
               D, D2  = 2-scale PatchGANs (ndf 64 and 32, instance norm) on B images; D judges the
                        cVAE-GAN outputs, D2 the cLR-GAN outputs
    batch:     2 = one "encoded" pair (A, B) + one "random" pair (A', B') (an even batch: halves)
    products:  μ, lv = E(B);  z_encoded = μ + ε·e^{lv/2};  z ~ N(0, I_8)
               fake_B_encoded = G(A, z_encoded)   (cVAE-GAN)
               fake_B_random  = G(A, z)           (cLR-GAN, the same A)
               z_recovered    = μ of E(fake_B_random)
    losses:    adversarial         lsgan, D(fake_B_encoded) against B, Σ over scales, no ½     weight 1
               adversarial_random  lsgan, D2(fake_B_random) against B'                        weight 1
               paired_l1           |fake_B_encoded − B|₁                                      weight 10
               kl                  −½ Σ(1 + lv − μ² − e^{lv}), summed over batch and dims     weight 0.01
               latent_regression   |z_recovered − z|₁, E frozen for this term                 weight 0.5
    phases:    G and E step (D, D2 frozen), then D and D2 step on the same (now detached) fakes
    optimiser: four Adams (G, E, D, D2), lr 2e-4, betas (0.5, 0.999)
    schedule:  constant for 100 epochs, then linear decay over 100 (reference: to lr/101, here to 0)
    init:      xavier normal, gain 0.02, on every conv and linear weight; biases 0
    sampling:  ``i2i translate --samples K`` draws z ~ N(0, I); ``--style B.png`` uses μ of E(B)

The two generator outputs of a step come from one batched G call (instance norm makes that the
same as two calls). The sample grid shows A, B, G(A, μ(E(B))) and G(A, z) for four prior codes.

``divco`` adds DivCo's contrastive term (λ 0.3, K 10, R 0.01, τ 1; features μ of E; K + 2 codes
for each image of the encoded half, as the reference) to this recipe and keeps latent regression
at λ_z 0.5. The reference DivCo-BicycleGAN never back-propagates its contrastive term and leaves
λ_z at 0, so it trains as BicycleGAN without latent regression; here the term trains G
(``--set divco.log_only=true`` gives back the reference's behaviour, ``--set
latent_regression.weight=0`` its λ_z). Differences from the reference that remain: its query
codes are the cLR-GAN codes (D2 sees the query images); here the plugin draws its own K + 2 codes,
and GAN2 stays on ``fake_B_random``. The term can only act once E's μ separates the generated
images: while it stays near 0 every dot product is ~0 and the term sits at n·ln(K + 1) with
almost no gradient (on the demo at the reference init, gain 0.02, batch 8: 9.59 = 4·ln 11
throughout the first 400 steps; the `tiny` preset starts E at gain 1).
"""
import torch

from i2i_core.errors import ConfigError
from i2i_core.nets import unet_depth_for
from i2i_core.recipe import (BuildOptions, DataSpec, NetSpec, OptimizerSpec, OptimSettings, Phase, Recipe,
                             Schedule, Translator, recipe, settings_agree)
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.divco import DivCo
from i2i_plugins.kl import KL
from i2i_plugins.latent_regression import LatentRegression
from i2i_plugins.paired_l1 import PairedL1

# The demo's calibration (benchmarks/claims.py). At the reference init (xavier, gain 0.02) the
# encoder's μ is the same for every demo image (spread 0.0000 at step 0, 0.021 after 400 steps),
# so z_encoded is noise, G learns to ignore the code and paints a blend of the styles; at gain 1
# μ separates the images from step 0 (spread 0.15) and then by style. Widths 16 as pix2pix's
# tiny; 2,400 steps at a constant rate, since the paper's decay over the second half of 200
# epochs would act from step 200 of the demo's 400 (seed 0: per_input_coverage 0 → 0.375,
# mIoU 0.43 → 0.83). A 2-dimensional code for the 4 styles: valid_rate 0.25 → 0.36 and
# per_input_coverage 0.375 → 0.47 (seed 0). Then E clustered the styles tightly in the prior's
# tail (forest's μ at (2.6, 0)) and 59 % of the prior decoded between styles; a KL weight of 0.1
# pulls the clusters into the prior and 4 × the paper's rate lets G draw them within the run
# (valid_rate 0.362 → 0.583, per_input_coverage 0.470 → 0.690, seed 0), 3,600 steps sharpen the
# borders (seeds 0 and 2: valid_rate 0.583 / 0.588 → 0.595 / 0.677).
TINY = {"nets.G.ngf": 16, "nets.G.nz": 2, "nets.E.nef": 16, "nets.E.nz": 2, "nets.D.ndf": 16, "nets.D2.ndf": 16,
        "nets.G.init_gain": 1.0, "nets.E.init_gain": 1.0, "data.steps": 3600, "schedule.decay_start": 1.0,
        "optim.lr": 8e-4, "kl.weight": 0.1}


def xavier(kind: str, **kwargs) -> NetSpec:
    return NetSpec(kind=kind, kwargs=kwargs, init="xavier", init_gain=0.02)


def generator(o: BuildOptions, dropout: bool) -> NetSpec:
    return xavier("bicyclegan_unet", in_channels=o.in_channels, out_channels=o.out_channels, nz=8,
                  num_downs=unet_depth_for(o.image_size), ngf=64, where_add="all", norm="instance", dropout=dropout,
                  upsample="basic")


def discriminator(in_channels: int, o: BuildOptions) -> NetSpec:
    return xavier("bicyclegan_discriminator", in_channels=in_channels, ndf=64, num_scales=2, n_layers=3,
                  norm="instance", image_size=o.image_size)


def code_translator(r: Recipe) -> Translator:
    """G(A, z) with z ~ N(0, I) (``--samples``) or z = μ of E(B) (``--style``)."""
    return Translator(nets=("G", "E"), run=lambda nets, x, code: nets["G"](x, code),
                      sample_code=lambda n, generator, device: torch.randn(n, nz(r), generator=generator).to(device),
                      style_code=lambda nets, image: nets["E"](image)[0])


def nz(r: Recipe) -> int:
    return r.nets["G"].kwargs["nz"]


def half(s) -> int:
    n = s.batch_size()
    if n % 2:
        raise ConfigError(f"bicyclegan splits each batch into an encoded and a random half; "
                          f"data.batch_size must be even, got {n}")
    return n // 2


def encoded_and_random(s):
    """One G call for both halves of the objective: (G(A, z_encoded), G(A, z))."""
    a = s.real_A_encoded
    return s.G(torch.cat([a, a]), torch.cat([s.z_encoded, s.z])).chunk(2)


def build(o: BuildOptions, name: str) -> Recipe:
    r = Recipe(
        name=name,
        nets={"G": generator(o, dropout=True),
              "E": xavier("bicyclegan_encoder", in_channels=o.out_channels, nz=8, nef=64, n_blocks=5, norm="instance"),
              "D": discriminator(o.out_channels, o), "D2": discriminator(o.out_channels, o)},
        products={
            "real_A_encoded": lambda s: s.real_A[:half(s)],
            "real_B_encoded": lambda s: s.real_B[:half(s)],
            "real_B_random": lambda s: s.real_B[half(s):],
            ("mu", "logvar"): lambda s: s.E(s.real_B_encoded),
            "z_encoded": lambda s: s.mu + torch.randn_like(s.mu) * (0.5 * s.logvar).exp(),
            "z": lambda s: torch.randn(half(s), nz(r), device=s.real_A.device),
            ("fake_B_encoded", "fake_B_random"): encoded_and_random,
            "z_recovered": lambda s: s.E(s.fake_B_random)[0],
            "fake_B_mu": lambda s: s.G(s.real_A, s.E(s.real_B)[0]),  # the sample grid's encoded column
        },
        phases=[Phase(name="G", optimizers=["G", "E"], frozen=["D", "D2"]), Phase(name="D", optimizers=["D", "D2"])],
        optimizers={name: OptimizerSpec(modules=[name]) for name in ("G", "E", "D", "D2")},
        optim=OptimSettings(lr=2e-4, betas=(0.5, 0.999)),
        schedule=Schedule(policy="linear", decay_start=0.5),
        data=DataSpec(paired=True, batch_size=2, epochs=200),
        visuals=("real_A", "real_B", "fake_B_mu"),
        presets={"tiny": TINY},
        checks=[settings_agree("nets.G.nz", "nets.E.nz", why="G takes the codes that E gives")],
    )
    r.translators = {"AtoB": code_translator(r)}
    r.add(Adversarial(mode="lsgan", d_factor=1.0, terms=[("D", "real_B_encoded", "fake_B_encoded")]), "adversarial")
    r.add(Adversarial(mode="lsgan", d_factor=1.0, terms=[("D2", "real_B_random", "fake_B_random")]),
          "adversarial_random")
    r.add(PairedL1(weight=10.0, pairs=[("fake_B_encoded", "real_B_encoded")]))
    r.add(KL(weight=0.01, reduction="sum"))
    r.add(LatentRegression(weight=0.5, detach_from=["E"]))
    return r


@recipe("bicyclegan", "BicycleGAN (Zhu et al. 2017): paired multimodal translation, cVAE-GAN + cLR-GAN")
def bicyclegan(o: BuildOptions) -> Recipe:
    return build(o, "bicyclegan")


@recipe("divco", "DivCo-BicycleGAN (Liu et al. 2021): BicycleGAN plus the latent-augmented contrastive loss")
def divco(o: BuildOptions) -> Recipe:
    r = build(o, "divco")
    r.add(DivCo(weight=0.3, negatives=10, radius=0.01, temperature=1.0, condition="real_A_encoded"))
    return r
