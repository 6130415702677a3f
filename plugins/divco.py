"""DivCo's latent-augmented contrastive loss (Liu, Tang, Lathuilière, Sebe, CVPR 2021).

Per condition c: a query code q ~ N(0, I), a positive p = q + u with u ~ U(−R, R) per coordinate
(a box, not a ball), and K negatives v_k ~ N(0, I), each re-drawn until *every* coordinate of
*every* sample differs from the query's by at least R. With f = the features of G(c, code) and
temperature τ, per sample i

    ℓ_i = −log( e^{f_q·f_p/τ} / (e^{f_q·f_p/τ} + Σ_k e^{f_q·f_{v_k}/τ}) )

(cross-entropy of the dot products [f_q·f_p, f_q·f_{v_1}, …] / τ with target 0), and
L_contra = λ · Σ_i ℓ_i, summed over the batch. Outputs of nearby codes are pulled together and
outputs of distant codes pushed apart, so the generator cannot ignore the code.

The plugin generates the (K + 2)·n images through the recipe's Translator for ``direction`` and
takes as features the Translator's ``style_code`` of them (BicycleGAN: μ of E; DRIT: the
attribute encoder; MUNIT: the style encoder), flattened, optionally L2-normalised (``normalize``,
the reference's ``--featnorm``). The encoder supplying the features receives no gradient from the
term: the parameters of the Translator's networks stop requiring gradients while it computes the
features, so the gradient flows through the encoder into the generator only (per parameter, so
it also holds where one module holds both, as MUNIT's does).

Defaults are DivCo-BicycleGAN's: λ 0.3, K 10, R 0.01, τ 1 (DivCo-DRIT uses λ 1 or 0.1,
DivCo-DCGAN R 0.001). The reference DivCo-BicycleGAN computes this term but never
back-propagates it (the DivCo reference code, backward_G_alone); here it trains the generator, as
the paper intends.
``log_only=true`` reproduces the reference: the term is computed and logged, and trains nothing.
"""
from __future__ import annotations

import contextlib

import attrs
import torch
import torch.nn.functional as F
from attrs import validators as v

from i2i_core.errors import PluginError
from i2i_core.loss import LossPlugin

from .mode_seeking import condition_for, generate, translator_with_codes

MAX_DRAWS = 10_000


def latent_augmented_sampling(query: torch.Tensor, K: int, R: float, generator: torch.Generator | None = None):
    """The codes ``[q; p; v_1; …; v_K]`` stacked on the first dimension ((K + 2)·n rows; sample
    i's group is rows i, i + n, i + 2n, …): the query, a positive uniform in the box of radius R
    around it, and K standard-normal negatives each at least R from the query in every coordinate.
    ``generator`` (a CPU generator, or None for the global stream) draws the randomness."""
    def draw(sampler):
        device = generator.device if generator is not None else query.device
        return sampler(query.shape, generator=generator, device=device, dtype=query.dtype).to(query.device)

    positive = query + (2 * draw(torch.rand) - 1) * R
    negatives = []
    for _ in range(K):
        for _ in range(MAX_DRAWS):
            candidate = draw(torch.randn)
            if (candidate - query).abs().min() >= R:
                break
        else:
            raise RuntimeError(f"no negative code at distance >= {R} in every coordinate after {MAX_DRAWS} draws; "
                               f"lower the radius")
        negatives.append(candidate)
    return torch.cat([query, positive, *negatives])


def divco_loss(f_query: torch.Tensor, f_positive: torch.Tensor, f_negatives: torch.Tensor,
               temperature: float = 1.0) -> torch.Tensor:
    """Σ_i CE([f_q·f_p, f_q·f_{v_1}, …, f_q·f_{v_K}] / τ, 0) for features (n, d), (n, d), (K, n, d)."""
    positive = (f_query * f_positive).sum(-1, keepdim=True)
    negatives = torch.einsum("nd,knd->nk", f_query, f_negatives)
    logits = torch.cat([positive, negatives], 1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target, reduction="sum")


@contextlib.contextmanager
def without_parameter_gradients(modules):
    """Parameters stop requiring gradients inside the block (the graph still flows through them)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@attrs.define(kw_only=True, eq=False)
class DivCo(LossPlugin):
    """DivCo's contrastive term on K + 2 images per condition generated through the Translator."""

    name = "divco"

    weight: float = attrs.field(default=0.3, converter=float, validator=v.ge(0.0))
    negatives: int = attrs.field(default=10, converter=int, validator=v.ge(1))
    radius: float = attrs.field(default=0.01, converter=float, validator=v.gt(0.0))
    temperature: float = attrs.field(default=1.0, converter=float, validator=v.gt(0.0))
    normalize: bool = False
    log_only: bool = False
    direction: str = attrs.field(default="AtoB", validator=v.in_(["AtoB", "BtoA"]))
    condition: str | None = None

    def reads(self):
        return (condition_for(self.direction, self.condition),)

    def check(self, recipe):
        translator = translator_with_codes(self.name, recipe, self.direction)
        if translator.style_code is None:
            raise PluginError(f"plugin {self.name!r} needs a recipe whose Translator encodes generated images "
                              f"(style_code) to compare them; {recipe.name!r} has none")

    def features(self, step, translator, images: torch.Tensor) -> torch.Tensor:
        nets = {name: step.net(name) for name in translator.nets}
        with without_parameter_gradients(nets.values()):
            features = translator.style_code(nets, images).flatten(1)
        return F.normalize(features, dim=1) if self.normalize else features

    def loss(self, step, role):
        translator = step.translator(self.direction)  # check() made sure it samples and encodes codes
        condition = step[condition_for(self.direction, self.condition)]
        n = condition.shape[0]
        query = translator.sample_code(n, None, condition.device)
        codes = latent_augmented_sampling(query, self.negatives, self.radius)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.log_only):
            images = generate(step, translator, condition, list(codes.split(n)))
            features = self.features(step, translator, images).view(self.negatives + 2, n, -1)
            return divco_loss(features[0], features[1], features[2:], self.temperature)
