"""DRIT (Lee, Tseng, Huang, Singh, Yang, ECCV 2018) and DRIT++ (Lee et al., IJCV 2020), concat
variant, as the reference code (HsinYingLee/DRIT) trains it.

    networks:  E_c  content encoders: per domain conv7 → 2 stride-2 convs → 3 res blocks; shared res
                    block; N(0, 1) noise on the content code while training
               E_a  attribute encoders: conv4/s2 + 3 BasicBlocks, pool, μ and log-variance heads (nz 8)
               G    generators: shared res block; z tiled and concatenated before 3 res blocks and
                    each up-sampling; tanh
               D_A, D_B    3-scale discriminators on the translations (x̃ = G(c_other, z_own))
               D_A2, D_B2  3-scale discriminators on images from random codes z ~ N(0, I)
               D_c  content discriminator (the content_adversarial plugin's own module)
    batch:     2 per domain: x ("encoded", every disentangling term) and x' ("random", only D2's real)
    losses:    content_adversarial  D_c: BCE(c_A → 0, c_B → 1); E_c: BCE(c_A → ½, c_B → ½)    1
               adversarial          σ + BCE, summed over scales: D_A(x̃_A), D_B(x̃_B)         1
               self_recon           |G_A(c_A, z_A) − x_A|₁ + |G_B(c_B, z_B) − x_B|₁          10
               cross_cycle          |G_A(c(x̃_B), z(x̃_A)) − x_A|₁ + mirrored                10
               kl                   Σ −½(1 + lv − μ² − e^lv) over both attribute encoders    0.01
               attribute_l2         mean(z_A²) + mean(z_B²), feature-wise E_a only           0.01 (0 here)
               code_l2              mean(c_A²) + mean(c_B²), noisy content codes             0.01
               adversarial_random   D_A2(G_A(c_B, z)), D_B2(G_B(c_A, z)), σ + BCE            1
               latent_regression    |μ(E_a(G_A(c_B, z))) − z|₁ + mirrored                    10
               mode_seeking (dritpp) 1/(d_I/d_z + 1e-5) per direction, z and z2              1 + 1
    phases:    D_content every iteration (D_c; clip 5)
               then every 3rd iteration (d_iter 3 → 3 D_c steps per full iteration):
               D         D_A, D_A2, D_B, D_B2
               EG        E_c, E_a, G on content_adversarial ... code_l2
               G         E_c, G again (E_a frozen, never trained by these terms) on
                         adversarial_random, latent_regression, mode_seeking
               (another d_iter: ``--set phase.D.every=N phase.EG.every=N phase.G.every=N``)
    optimiser: Adam lr 1e-4, betas (0.5, 0.999), weight decay 1e-4; D_c lr 4e-5
    schedule:  constant for 600 epochs, then linear decay to 0 over 600
    init:      conv weights N(0, 0.02); biases and Linear layers PyTorch's defaults
    data:      unpaired; resize to 256, random crop 216 (``--image-size 216``; other sizes resize
               by the same ratio), horizontal flip

Where this is not the reference, on purpose:

* The G phase recomputes its products (fresh content noise, fresh codes) after the EG step,
  as DivCo-DRIT's ``forward_alone`` does. The reference back-propagates the G-alone terms
  through the graph built before the EG step, which PyTorch ≥ 1.5 rejects ("modified by an
  inplace operation") and which torch 0.4 evaluated with a mix of stale activations and updated
  weights: not bit-identical, by necessity. E_c and G still take two Adam steps per full
  iteration and E_a none from these terms.
* The reference's discriminators lose their instance norm to a string-comparison bug and use
  LeakyReLU slope 0.01; both are kept as defaults, and the paper's choices are settings:
  ``--set nets.D_A.norm=instance nets.D_A.slope=0.2`` (and D_A2, D_B, D_B2;
  ``content_adversarial.norm``/``.slope`` for D_c).
* D_c is built for the content size of ``--image-size`` instead of fitting only crops of
  212–240 (see ``i2i_core.nets.drit``); at 216 it is the reference network. The image Ds keep
  3 scales from 64² and drop the scale that would be smaller than 16² below that (with the
  paper's instance norm, smaller than 32²: a norm needs a last map of 2×2).
* The reference makes the last two iterations of every epoch full ones; here the full
  iterations are every third step, epochs play no part.
* ``--style`` and ``translators`` take E_a's μ of the style image (the reference samples its
  reparameterised code); ``--samples`` draws z ~ N(0, I₈).

``--set nets.G.kind=drit_featurewise_generator`` swaps in the reference's other generator (its
``--concat 0``): per domain an MLP turns z into one chunk per residual block, and after each conv
of a block two 1×1 convs mix the tiled chunk into the features (MisINSResBlock). In the concat
generator the instance norm after each conv of a residual block removes the tiled code's constant
maps, so z reaches the image only through the two up-sampling blocks and the last 1×1 conv.
The reference pairs that generator with a deterministic attribute encoder and an L2 on the code
in place of the KL: ``--set nets.E_a.kind=drit_featurewise_attribute_encoder kl.weight=0
attribute_l2.weight=0.01`` (conv7, four stride-2 conv4s with ReLUs and no norm, global pool, 1×1
conv to the code; mean(z²) per domain). Its code is used as it is, where the concat variant samples,
and the latent regression reads it as it reads μ. Each half works with the other's partner too.

``i2i train drit --add PLUGIN`` puts the plugin's generator term in the G phase (where DRIT++
puts mode seeking and DivCo-DRIT its contrastive term); ``--add PLUGIN:phases={"G":"EG"}`` puts
it with the disentangling terms.
"""
import torch

from i2i_core.errors import ConfigError
from i2i_core.recipe import (BuildOptions, DataSpec, ImageSizes, NetSpec, OptimizerSpec, OptimSettings, Phase, Recipe,
                             Schedule, Translator, buildable_size, recipe, settings_agree)
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.code_l2 import CodeL2
from i2i_plugins.content_adversarial import ContentAdversarial
from i2i_plugins.cross_cycle import CrossCycle
from i2i_plugins.kl import KL
from i2i_plugins.latent_regression import LatentRegression
from i2i_plugins.mode_seeking import ModeSeeking
from i2i_plugins.recon_image import ImageReconstruction

NZ = 8
IMAGE_DS = ("D_A", "D_A2", "D_B", "D_B2")
# The demo's calibration (seed 0, 2-dimensional code, 2,400 steps; scores as mIoU / valid_rate /
# per_input_coverage). A constant rate: the paper's decay over the second half of 1,200 epochs
# would act from the middle of the run. At the reference init (conv weights N(0, 0.02)) and these
# widths the attribute encoder does not encode: after 2,400 steps G_B(E_c(x), μ(x)) keeps x's
# style 10 % of the time (0.36 / 0.64 / 0.25, one grey). Xavier gain 1 for E_c, E_a and G makes
# E_a encode, but its style clusters sit in the prior's tail (0.46 / 0.14 / 0.16); a KL weight
# of 0.1 pulls them into the prior, and a 4 × rate lets G learn to draw them within the run
# (0.68 / 0.24 / 0.37; encoded transfer keeps the style 60 % of the time).
TINY = {"nets.E_c.ngf": 16, "nets.E_c.n_res": 1, "nets.E_a.ndf": 16, "nets.G.content_channels": 64,
        "nets.G.n_res": 1, **{f"nets.{d}.ndf": 16 for d in IMAGE_DS}, "schedule.decay_start": 1.0,
        "nets.G.nz": 2, "nets.E_a.nz": 2, "data.steps": 2400, "optim.lr": 4e-4, "kl.weight": 0.1,
        **{f"nets.{n}.{k}": v for n in ("E_c", "E_a", "G") for k, v in (("init", "xavier"), ("init_gain", 1.0))}}


def half_batch(s) -> int:
    n = s.real_A.shape[0]
    if n % 2 or n != s.real_B.shape[0]:
        raise ConfigError(f"drit trains on an even batch per domain (one 'encoded' and one 'random' image per pair); "
                          f"got {n} A and {s.real_B.shape[0]} B images: set --batch-size to an even number")
    return n // 2


def encode_attribute(encoder, image: torch.Tensor, domain: str) -> tuple:
    """(μ, log-variance) of the concat variant's E_a; (code, None) of the deterministic one."""
    out = encoder(image, domain)
    return out if isinstance(out, tuple) else (out, None)


def reparameterize(mu: torch.Tensor, logvar) -> torch.Tensor:
    """A sample of N(μ, e^lv); the code itself when the encoder is deterministic (lv None)."""
    return mu if logvar is None else mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def generate(s, domain: str, contents: list, codes: list) -> tuple:
    """G of ``domain`` on several (content, code) pairs in one batched call (exact: G normalises per sample)."""
    return s.G(torch.cat(contents), torch.cat(codes), domain).chunk(len(contents))


def content_fits_generator(r: Recipe) -> None:
    ngf, channels = r.nets["E_c"].kwargs["ngf"], r.nets["G"].kwargs["content_channels"]
    if buildable_size(ngf) and buildable_size(channels) and channels != 4 * ngf:
        raise ConfigError(f"recipe {r.name!r}: nets.G.content_channels={channels} but the content encoder gives "
                          f"4 × nets.E_c.ngf = {4 * ngf} channels; set nets.G.content_channels={4 * ngf}, or "
                          f"nets.E_c.ngf to a quarter of nets.G.content_channels")


ATTRIBUTE_LOGVARS = {"logvar_A", "logvar_B", "logvar_fake_A", "logvar_fake_B"}


def kl_needs_a_distribution(r: Recipe) -> None:
    """The feature-wise E_a gives a code, not (μ, log-variance): no KL can act on it."""
    if r.nets["E_a"].kind != "drit_featurewise_attribute_encoder":
        return
    for instance, plugin in r.active_plugins().items():
        if isinstance(plugin, KL) and ATTRIBUTE_LOGVARS & set(plugin.reads()):
            raise ConfigError(f"recipe {r.name!r}: nets.E_a.kind=drit_featurewise_attribute_encoder gives codes "
                              f"without a log-variance, so {instance}.weight={plugin.weight:g} has nothing to act on; "
                              f"set {instance}.weight=0 and penalise the code with attribute_l2.weight (the "
                              f"reference: 0.01)")


def build(o: BuildOptions, name: str, mode_seeking: bool) -> Recipe:
    def nets():
        return {
            "E_c": NetSpec(kind="drit_content_encoder", init="none",
                           kwargs=dict(in_channels_A=o.in_channels, in_channels_B=o.out_channels, ngf=64, n_res=3)),
            "E_a": NetSpec(kind="drit_attribute_encoder", init="none",
                           kwargs=dict(in_channels_A=o.in_channels, in_channels_B=o.out_channels, ndf=64,
                                       n_blocks=3, nz=NZ)),
            "G": NetSpec(kind="drit_generator", init="none",
                         kwargs=dict(content_channels=256, out_channels_A=o.in_channels,
                                     out_channels_B=o.out_channels, nz=NZ, n_res=3)),
            **{d: NetSpec(kind="drit_multiscale_discriminator", init="none",
                          kwargs=dict(in_channels=o.in_channels if d.startswith("D_A") else o.out_channels,
                                      ndf=64, n_layer=4, num_scales=3, image_size=o.image_size, norm="none",
                                      slope=0.01))
               for d in IMAGE_DS},
        }

    r = Recipe(
        name=name,
        nets=nets(),
        products={
            "real_A_encoded": lambda s: s.real_A[:half_batch(s)],
            "real_A_random": lambda s: s.real_A[half_batch(s):],
            "real_B_encoded": lambda s: s.real_B[:half_batch(s)],
            "real_B_random": lambda s: s.real_B[half_batch(s):],
            # c_A, c_B: noisy while training
            "content_A": lambda s: s.E_c(s.real_A_encoded, "A"),
            "content_B": lambda s: s.E_c(s.real_B_encoded, "B"),
            ("mu_A", "logvar_A"): lambda s: encode_attribute(s.E_a, s.real_A_encoded, "A"),
            ("mu_B", "logvar_B"): lambda s: encode_attribute(s.E_a, s.real_B_encoded, "B"),
            "style_A": lambda s: reparameterize(s.mu_A, s.logvar_A),
            "style_B": lambda s: reparameterize(s.mu_B, s.logvar_B),
            # r1, r2 ~ N(0, I): one pair shared by both directions
            "z_random": lambda s: torch.randn(s.real_A_encoded.shape[0], s.G.nz, device=s.real_A.device),
            "z_random2": lambda s: torch.randn(s.real_A_encoded.shape[0], s.G.nz, device=s.real_A.device),
            # x̃_A = G_A(c_B, z_A) (translation), x̂_A = G_A(c_A, z_A) (self reconstruction)
            ("fake_A", "self_recon_A"): lambda s: generate(s, "A", [s.content_B, s.content_A], [s.style_A] * 2),
            ("fake_B", "self_recon_B"): lambda s: generate(s, "B", [s.content_A, s.content_B], [s.style_B] * 2),
            "fake_A_random": lambda s: s.G(s.content_B, s.z_random, "A"),
            "fake_B_random": lambda s: s.G(s.content_A, s.z_random, "B"),
            "fake_A_random2": lambda s: s.G(s.content_B, s.z_random2, "A"),
            "fake_B_random2": lambda s: s.G(s.content_A, s.z_random2, "B"),
            # encode the translations again: x̃_A carries B's content and A's attribute
            "content_fake_A": lambda s: s.E_c(s.fake_A, "A"),
            "content_fake_B": lambda s: s.E_c(s.fake_B, "B"),
            ("mu_fake_A", "logvar_fake_A"): lambda s: encode_attribute(s.E_a, s.fake_A, "A"),
            ("mu_fake_B", "logvar_fake_B"): lambda s: encode_attribute(s.E_a, s.fake_B, "B"),
            "rec_A": lambda s: s.G(s.content_fake_B, reparameterize(s.mu_fake_A, s.logvar_fake_A), "A"),
            "rec_B": lambda s: s.G(s.content_fake_A, reparameterize(s.mu_fake_B, s.logvar_fake_B), "B"),
            # latent regression reads μ only
            "mu_random_A": lambda s: encode_attribute(s.E_a, s.fake_A_random, "A")[0],
            "mu_random_B": lambda s: encode_attribute(s.E_a, s.fake_B_random, "B")[0],
            # sample grids: each row's content with the other domain's attribute (μ)
            "transfer_B": lambda s: s.G(s.E_c(s.real_A, "A"), encode_attribute(s.E_a, s.real_B, "B")[0], "B"),
            "transfer_A": lambda s: s.G(s.E_c(s.real_B, "B"), encode_attribute(s.E_a, s.real_A, "A")[0], "A"),
        },
        phases=[
            Phase(name="D_content", optimizers=["content_adversarial"]),
            Phase(name="D", optimizers=["D"], every=3),
            Phase(name="EG", optimizers=["E_c", "E_a", "G"], frozen=IMAGE_DS, every=3),
            Phase(name="G", optimizers=["E_c", "G"], frozen=IMAGE_DS + ("E_a",), every=3, fresh=True),
        ],
        optimizers={"D": OptimizerSpec(modules=IMAGE_DS), "E_c": OptimizerSpec(modules=["E_c"]),
                    "E_a": OptimizerSpec(modules=["E_a"]), "G": OptimizerSpec(modules=["G"])},
        optim=OptimSettings(lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4),
        schedule=Schedule(policy="linear", decay_start=0.5),
        data=DataSpec(paired=False, batch_size=2, load_size=round(o.image_size * 256 / 216), epochs=1200),
        inputs=("real_A", "real_B"),
        visuals=("real_A", "real_B", "transfer_B", "transfer_A"),
        presets={"tiny": TINY},
        image_sizes=ImageSizes(powers_of_two=False, multiple=4),  # any multiple of 4; 216 is the reference crop
        checks=[settings_agree("nets.G.nz", "nets.E_a.nz", why="G takes the attribute codes that E_a gives"),
                content_fits_generator, kl_needs_a_distribution],
    )
    r.translators = {"AtoB": translator(r, "A", "B"), "BtoA": translator(r, "B", "A")}

    random_fakes = [("D_A2", "real_A_random", "fake_A_random"), ("D_B2", "real_B_random", "fake_B_random")]
    if mode_seeking:  # D2 also judges the second random image (its real term then counts twice)
        random_fakes += [("D_A2", "real_A_random", "fake_A_random2"), ("D_B2", "real_B_random", "fake_B_random2")]
    eg = {"G": "EG"}
    r.add(ContentAdversarial(phases=eg))
    r.add(Adversarial(mode="vanilla", d_factor=1.0, phases=eg,
                      terms=[("D_A", "real_A_encoded", "fake_A"), ("D_B", "real_B_encoded", "fake_B")]))
    r.add(ImageReconstruction(weight=10.0, phases=eg,
                              pairs=[("self_recon_A", "real_A_encoded"), ("self_recon_B", "real_B_encoded")]),
          "self_recon")
    r.add(CrossCycle(weight=10.0, phases=eg))
    r.add(KL(weight=0.01, reduction="sum", phases=eg, pairs=[("mu_A", "logvar_A"), ("mu_B", "logvar_B")]))
    r.add(CodeL2(weight=0.01, phases=eg, codes=["content_A", "content_B"]))
    # the feature-wise variant's stand-in for the KL on its deterministic codes (off with the concat E_a)
    r.add(CodeL2(weight=0.0, phases=eg, codes=["mu_A", "mu_B"]), "attribute_l2")
    r.add(Adversarial(mode="vanilla", d_factor=1.0, terms=random_fakes), "adversarial_random")
    r.add(LatentRegression(weight=10.0, pairs=[("mu_random_A", "z_random"), ("mu_random_B", "z_random")]))
    if mode_seeking:
        r.add(ModeSeeking(weight=1.0, form="code",
                          images=[("fake_A_random", "fake_A_random2"), ("fake_B_random", "fake_B_random2")],
                          codes=[("z_random", "z_random2"), ("z_random", "z_random2")]))
    return r


def translator(r: Recipe, source: str, target: str) -> Translator:
    """source → target with a code: E_c of the source branch, G of the target branch; ``--style``
    takes μ of the target domain's attribute encoder."""
    return Translator(
        nets=("E_c", "G", "E_a"),
        run=lambda nets, x, code: nets["G"](nets["E_c"](x, source), code, target),
        sample_code=lambda n, generator, device: torch.randn(n, r.nets["G"].kwargs["nz"], generator=generator).to(device),
        style_code=lambda nets, image: encode_attribute(nets["E_a"], image, target)[0],
    )


@recipe("drit", "DRIT (Lee et al. 2018): disentangled content and attribute codes, unpaired, diverse outputs")
def drit(o: BuildOptions) -> Recipe:
    return build(o, "drit", mode_seeking=False)


@recipe("dritpp", "DRIT++ (Lee et al. 2020): DRIT plus the mode-seeking term on two random codes")
def dritpp(o: BuildOptions) -> Recipe:
    return build(o, "dritpp", mode_seeking=True)
