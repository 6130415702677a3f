"""MUNIT (Huang, Liu, Belongie, Kautz, ECCV 2018), as the reference code trains it.

    networks:  G_A, G_B = AdaINGen per domain: content encoder (dim 64, 2 halvings, 4 IN ResBlocks),
                          style encoder (4 halvings, global pool, style 8), AdaIN decoder with MUNIT's
                          layer norm, MLP 8→256→256→(β, γ) of every AdaIN layer
               D_A, D_B = MsImageDis: 3 scales, 4 halvings each (3 at 32²), dim 64, no norm, LSGAN
    products:  c_A, s'_A = E_A(real_A)                 content_A, style_A            (same for B)
               s_A, s_B ~ N(0, I₈)                      style_prior_A, style_prior_B
               x̂_A = G_A(c_A, s'_A)                     self_recon_A                  (same for B)
               fake_A = G_A(c_B, s_A), fake_B = G_B(c_A, s_B)
               ĉ_B, ŝ_A = E_A(fake_A)                   content_B_recovered, style_prior_A_recovered
               rec_A = G_A(ĉ_A, s'_A)                   only when cycle.weight > 0    (same for B)
    losses:    adversarial    lsgan, Σ over the 3 scales, no ½ (d_factor 1)   gan_w        1
               recon_image    |x̂_A − real_A|₁ + |x̂_B − real_B|₁              recon_x_w   10
               recon_style    |ŝ_A − s_A|₁ + |ŝ_B − s_B|₁ (prior target)    recon_s_w    1
               recon_content  |ĉ_B − c_B|₁ + |ĉ_A − c_A|₁ (target kept)     recon_c_w    1
               cycle          |rec_A − real_A|₁ + |rec_B − real_B|₁          recon_x_cyc_w 0
    phases:    D step (fakes from fresh prior codes), then G step (D frozen)
    optimiser: Adam lr 1e-4, betas (0.5, 0.999), weight decay 1e-4, for both; batch 1; unpaired
    schedule:  ×0.5 every 10% of the run (the reference: every 100k of 1M iterations)
    init:      generators kaiming-normal (fan_in); Ds N(0, 0.02); layer-norm γ U[0, 1)
    tiny:      dim 16, 1 ResBlock, MLP width 32, D dim 16, constant learning rate

The explicit style-augmented cycle (``recon_x_cyc_w``, 10 in the summer↔winter and
synthia→cityscapes configs) is the ``cycle`` plugin on ``rec_A``/``rec_B``, decoded from the
re-encoded content with the *encoded* style: ``--set cycle.weight=10``.

The reference's D step draws its own prior codes and decodes again, so D learns from other
samples than the G step's. Here D reads ``fake_A_for_D``/``fake_B_for_D``, decoded without a
graph from the same content codes (the encoders have not changed between the two steps) and
fresh codes; ``--set 'adversarial.terms=[["D_A","real_A","fake_A"],["D_B","real_B","fake_B"]]'``
lets D judge the G step's own fakes instead, saving one decode per direction.

Not reproduced: the domain-invariant perceptual loss (``vgg_w``, used only by the synthia config)
needs Caffe VGG16 weights that cannot be downloaded here. The reference also halves the learning
rate one iteration earlier than this schedule (it steps its scheduler before each update), and
resizes the shorter side keeping the aspect where this recipe resizes to a square. The reference
counts 1,000,000 iterations, not epochs: pass ``--steps 1000000`` (the 20 default epochs are about
that for edges2shoes).
"""
import torch

from i2i_core.nets.munit import discriminator_layers_for
from i2i_core.recipe import (BuildOptions, DataSpec, ImageSizes, NetSpec, OptimizerSpec, OptimSettings, Phase, Recipe,
                             Schedule, Translator, recipe)
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.cycle import Cycle
from i2i_plugins.recon_content import ContentReconstruction
from i2i_plugins.recon_image import ImageReconstruction
from i2i_plugins.recon_style import StyleReconstruction


def generator(channels: int) -> NetSpec:
    return NetSpec(kind="munit_generator", init="kaiming",
                   kwargs=dict(channels=channels, dim=64, style_dim=8, n_downsample=2, n_res=4, mlp_dim=256,
                               activation="relu", pad_type="reflect"))


def discriminator(channels: int, image_size: int) -> NetSpec:
    return NetSpec(kind="munit_discriminator", init="normal", init_gain=0.02,
                   kwargs=dict(channels=channels, dim=64, n_layer=discriminator_layers_for(image_size), norm="none",
                               activation="lrelu", num_scales=3, pad_type="reflect"))


# The demo's calibration (benchmarks/claims.py). A constant learning rate: halving it every 10% of
# a CPU demo run leaves a few hundred steps at full rate (the reference has 100k). A 2-dimensional
# style code for the demo's 4 styles and 2,400 steps: at 400 steps and 8 dimensions the styles of
# prior codes fell between the demo's (seed 0: mIoU 0.37, valid_rate 0.17, per_input_coverage
# 0.29); 2,400 steps gave 0.50 / 0.51 / 0.66, and a 2-dimensional code then 0.46 / 0.64 / 0.78.
TINY = {f"nets.{g}.{key}": value for g in ("G_A", "G_B")
        for key, value in (("dim", 16), ("n_res", 1), ("mlp_dim", 32), ("style_dim", 2))}
TINY.update({"nets.D_A.dim": 16, "nets.D_B.dim": 16, "schedule.policy": "constant", "data.steps": 2400})


def prior_codes(s):
    """One N(0, I) style code per image and domain, drawn once per step."""
    n, device = s.real_A.shape[0], s.real_A.device
    return torch.randn(n, s.G_A.style_dim, device=device), torch.randn(n, s.G_B.style_dim, device=device)


def fakes_for_discriminators(s):
    """The reference's D-step translations: the same content codes, freshly drawn styles, no graph."""
    content_A, content_B = s.content_A, s.content_B  # cached with their graph for the G step
    with torch.no_grad():
        style_A, style_B = prior_codes(s)
        return s.G_A.decode(content_B, style_A), s.G_B.decode(content_A, style_B)


def translator(r: Recipe, source: str, target: str) -> Translator:
    """Content of the source domain rendered by the target domain's decoder with a style code."""
    return Translator(
        nets=(source, target),
        run=lambda nets, x, code: nets[target].decode(nets[source].encode_content(x), code),
        sample_code=lambda n, generator, device: torch.randn(
            n, r.nets[target].kwargs["style_dim"], generator=generator).to(device),
        style_code=lambda nets, image: nets[target].encode_style(image),
    )


@recipe("munit", "MUNIT (Huang et al. 2018): unpaired multimodal translation, content and style codes, AdaIN")
def munit(o: BuildOptions) -> Recipe:
    r = Recipe(
        name="munit",
        nets={"G_A": generator(o.in_channels), "G_B": generator(o.out_channels),
              "D_A": discriminator(o.in_channels, o.image_size), "D_B": discriminator(o.out_channels, o.image_size)},
        products={
            "content_A": lambda s: s.G_A.encode_content(s.real_A),
            "content_B": lambda s: s.G_B.encode_content(s.real_B),
            "style_A": lambda s: s.G_A.encode_style(s.real_A),
            "style_B": lambda s: s.G_B.encode_style(s.real_B),
            ("style_prior_A", "style_prior_B"): prior_codes,
            "self_recon_A": lambda s: s.G_A.decode(s.content_A, s.style_A),
            "self_recon_B": lambda s: s.G_B.decode(s.content_B, s.style_B),
            "fake_A": lambda s: s.G_A.decode(s.content_B, s.style_prior_A),
            "fake_B": lambda s: s.G_B.decode(s.content_A, s.style_prior_B),
            "content_B_recovered": lambda s: s.G_A.encode_content(s.fake_A),
            "content_A_recovered": lambda s: s.G_B.encode_content(s.fake_B),
            "style_prior_A_recovered": lambda s: s.G_A.encode_style(s.fake_A),
            "style_prior_B_recovered": lambda s: s.G_B.encode_style(s.fake_B),
            "rec_A": lambda s: s.G_A.decode(s.content_A_recovered, s.style_A),
            "rec_B": lambda s: s.G_B.decode(s.content_B_recovered, s.style_B),
            ("fake_A_for_D", "fake_B_for_D"): fakes_for_discriminators,
        },
        phases=[Phase(name="D", optimizers=["D"]), Phase(name="G", optimizers=["G"], frozen=["D_A", "D_B"])],
        optimizers={"G": OptimizerSpec(modules=["G_A", "G_B"]), "D": OptimizerSpec(modules=["D_A", "D_B"])},
        optim=OptimSettings(lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4),
        schedule=Schedule(policy="step", step_size=0.1, gamma=0.5),
        data=DataSpec(paired=False, batch_size=1, load_size=o.image_size, flip=True, epochs=20),
        visuals=("real_A", "self_recon_A", "fake_B", "real_B", "self_recon_B", "fake_A"),
        presets={"tiny": TINY},
        image_sizes=ImageSizes(powers_of_two=False, multiple=4),  # two stride-2 convs, two upsamplings
    )
    r.translators = {"AtoB": translator(r, "G_A", "G_B"), "BtoA": translator(r, "G_B", "G_A")}
    r.add(Adversarial(mode="lsgan", d_factor=1.0, terms=[("D_A", "real_A", "fake_A", "fake_A_for_D"),
                                                         ("D_B", "real_B", "fake_B", "fake_B_for_D")]))
    r.add(ImageReconstruction(weight=10.0))
    r.add(StyleReconstruction(weight=1.0))
    r.add(ContentReconstruction(weight=1.0))
    r.add(Cycle(weight=0.0))
    return r
