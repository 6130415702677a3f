"""PatchNCE: patchwise contrastive loss (Park, Efros, Zhang, Zhu, "Contrastive Learning for Unpaired
Image-to-Image Translation", ECCV 2020).

A patch of the output should match the input patch at the same place better than the input's
other patches. With q_i the projected encoder feature of output patch i and k_j those of the
input (unit vectors, τ = 0.07, keys carry no gradient), for each tapped layer l:

    ℓ_l(i) = −log( exp(q_i·k_i/τ) / (exp(q_i·k_i/τ) + Σ_{j≠i} exp(q_i·k_j/τ) + exp(−10/τ)) )
    L_NCE(x, G(x)) = (1/L) Σ_l mean_i ℓ_l(i)
    L_patchnce = Σ_G 0.5·(L_NCE(x, G(x)) + L_NCE(y, G(y)))   (identity on; L_NCE(x, G(x)) alone off)

The exp(−10/τ) term is the reference code's: it sets the j = i entry of the similarity matrix to
−10 instead of dropping it, a negative of weight ≈ e^−143. The negatives j are the P sampled
patches of the same image, or all B·P patches of the batch with ``negatives_from_minibatch``
(SinCUT). Features are the generator's own encoder taps (``G.encode``), named semantically
(``padded_input``, ``down1_conv``, ``res1`` ...) and mapped to each architecture's indices by
``G.tap_indices()``; ``res{k}`` beyond the generator's last residual block means its last block,
so the CUT layer set works on shallow (``tiny``) generators. Each generator gets a projection
head F (per layer Linear(C, 256), ReLU, Linear(256, 256)) created from the first batch, trained
by its own optimiser in the phase of the G role. With ``flip_equivariance`` (FastCUT) the recipe
flips the generator's input on a coin toss and says so in the product ``flipped``; the query maps
are then flipped back before sampling. A recipe whose generator pass already holds the encoder
maps of a source (CUT's one G pass on cat([real_A, real_B])) may hand them over in the product
``taps_product(generator, source)``; the keys then cost no encoder pass of their own.
"""
from __future__ import annotations

import functools
import re

import attrs
import torch
from attrs import validators as v
from torch import nn

from i2i_core.errors import PluginError
from i2i_core.interfaces import FeatureTaps, require
from i2i_core.loss import LossPlugin, product_names, summed
from i2i_core.nets import init_weights
from i2i_core.recipe import OptimizerSpec

CUT_LAYERS = ("padded_input", "down1_conv", "down2_conv", "res1", "res5")
NEGATIVE_SELF = -10.0  # the reference's fill value for the positive pair among the negatives
NORM_EPS = 1e-7


def patch_nce_loss(query, key, temperature=0.07, negatives_from_minibatch=False):
    """Per-patch InfoNCE loss, (B, P) from L2-normalised (B, P, D) queries and keys.

    Query i's logits are [q_i·k_i, q_i·k_j for every j of its group] / temperature, with the
    j = i entry set to −10 before dividing; the target is class 0. The group is the P patches of
    the same image, or all B·P patches with ``negatives_from_minibatch``; the number of groups
    comes from the tensor, never from a configured batch size. Keys are detached.
    """
    batch, patches, dim = query.shape
    key = key.detach()
    with torch.autocast(query.device.type, enabled=False):
        precision = torch.promote_types(query.dtype, torch.float32)  # bf16 logits / 0.07 lose too much
        q, k = query.to(precision), key.to(precision)
        if negatives_from_minibatch:
            q, k = q.reshape(1, batch * patches, dim), k.reshape(1, batch * patches, dim)
        positive = (q * k).sum(-1, keepdim=True)
        similarity = q @ k.transpose(1, 2)
        own = torch.eye(similarity.shape[-1], dtype=torch.bool, device=similarity.device)
        similarity = similarity.masked_fill(own, NEGATIVE_SELF)
        logits = torch.cat([positive, similarity], dim=-1) / temperature
        return -torch.log_softmax(logits, dim=-1)[..., 0].reshape(batch, patches)


class PatchSampler(nn.Module):
    """CUT's PatchSampleF: one MLP per tapped layer, in the generator's order (state-dict keys
    ``mlp_{i}.0/2.*`` as the reference's)."""

    def __init__(self, channels, width: int = 256):
        super().__init__()
        for i, c in enumerate(channels):
            setattr(self, f"mlp_{i}", nn.Sequential(nn.Linear(c, width), nn.ReLU(), nn.Linear(width, width)))

    @staticmethod
    def draw_ids(feature: torch.Tensor, num_patches: int) -> torch.Tensor:
        """min(P, H·W) distinct locations (row-major h·W + w) from torch's global generator."""
        h, w = feature.shape[-2:]
        return torch.randperm(h * w)[:num_patches].to(feature.device)

    def project(self, layer: int, feature: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) map → (B, P, width) unit rows at locations ``ids``, shared by every image."""
        b, c = feature.shape[:2]
        rows = feature.permute(0, 2, 3, 1).reshape(b, -1, c)[:, ids]
        out = getattr(self, f"mlp_{layer}")(rows).float()
        return out / (out.norm(dim=-1, keepdim=True) + NORM_EPS)

    def forward(self, features: list, ids: list) -> list:
        """Every tapped layer at once: (B, P, width) rows per layer at that layer's ``ids``."""
        return [self.project(i, f, idx) for i, (f, idx) in enumerate(zip(features, ids))]


def resolve_taps(taps: dict, layers, generator: str) -> list[int]:
    """Sorted distinct raw indices for the semantic ``layers``; ``res{k}`` past the last block is the last block."""
    blocks = sorted((int(m.group(1)), name) for name in taps if (m := re.fullmatch(r"res(\d+)", name)))
    found = []
    for layer in layers:
        if layer not in taps and blocks and re.fullmatch(r"res\d+", layer):
            layer = blocks[-1][1]
        if layer not in taps:
            raise PluginError(f"plugin 'patchnce': generator {generator!r} has no feature tap {layer!r} "
                              f"(its taps: {', '.join(taps)})")
        found.append(taps[layer])
    return sorted(set(found))


_triples = attrs.converters.optional(functools.partial(
    product_names, arity=3, what="each entry is [generator, source, translated] names"))


def taps_product(generator: str, source: str) -> str:
    """The product in which a recipe may hand PatchNCE ``generator``'s encoder maps of ``source``
    from a pass it runs anyway: a list with one map per index of ``PatchNCE.tap_layers(generator)``,
    or None when it has none. PatchNCE takes its keys from there instead of encoding ``source`` again
    (CUT's one G pass on cat([real_A, real_B]) holds the keys of both of its NCE paths)."""
    return f"{generator}_taps_{source}"


# Where a recipe's translators leave their images: direction → (source, translated), (real, identity).
DIRECTIONS = {"AtoB": (("real_A", "fake_B"), ("real_B", "idt_B")),
              "BtoA": (("real_B", "fake_A"), ("real_A", "idt_A"))}


@attrs.define(kw_only=True, eq=False)
class PatchNCE(LossPlugin):
    """Patchwise contrastive loss between a generator's input and output encoder features.

    pairs:          (generator, source, translated) triples, the X path NCE(x, G(x));
    identity_pairs: (generator, target-domain real, identity output) triples, NCE(y, G(y)),
                    used when ``identity`` is on. Both default to what the recipe's translators
                    produce (``fake_B``/``idt_B`` for AtoB, ``fake_A``/``idt_A`` for BtoA).
    Each generator's paths are averaged, generators summed.
    """

    name = "patchnce"
    # Dropped into a 32×32 demo recipe (``--add patchnce``): as many patches as an 8×8 layer has
    # and heads to match, so the term costs about what CUT's tiny preset spends on it.
    presets = {"tiny": {"num_patches": 64, "head_width": 64}}

    layers: tuple = attrs.field(default=CUT_LAYERS, converter=tuple,
                                validator=v.deep_iterable(v.instance_of(str), v.min_len(1)))
    num_patches: int = attrs.field(default=256, converter=int, validator=v.ge(1))
    temperature: float = attrs.field(default=0.07, converter=float, validator=v.gt(0.0))
    negatives_from_minibatch: bool = attrs.field(default=False, validator=v.instance_of(bool))
    identity: bool = attrs.field(default=True, validator=v.instance_of(bool))
    flip_equivariance: bool = attrs.field(default=False, validator=v.instance_of(bool))
    head_width: int = attrs.field(default=256, converter=int, validator=v.ge(1))
    pairs: tuple | None = attrs.field(default=None, converter=_triples)
    identity_pairs: tuple | None = attrs.field(default=None, converter=_triples)
    _samplers: dict = attrs.field(factory=dict, init=False)
    _taps: dict = attrs.field(factory=dict, init=False)

    # -- what it needs -------------------------------------------------------------------------
    def paths(self) -> dict[str, list[tuple[str, str]]]:
        """generator → its (source, translated) paths: the X path, then identity when on."""
        found: dict[str, list] = {}
        for generator, source, out in (self.pairs or ()) + ((self.identity_pairs or ()) if self.identity else ()):
            found.setdefault(generator, []).append((source, out))
        return found

    def reads(self):
        names = [name for paths in self.paths().values() for path in paths for name in path]
        return tuple(names + (["flipped"] if self.flip_equivariance else []))

    def networks(self):
        return tuple(self.paths())

    def check(self, recipe):
        batch = recipe.data.batch_size
        if self.num_patches * (batch if self.negatives_from_minibatch else 1) < 2:
            where = f"the minibatch (data.batch_size {batch})" if self.negatives_from_minibatch else "its own image"
            raise PluginError(f"plugin 'patchnce' with num_patches {self.num_patches} finds no negative for a patch "
                              f"among the other patches of {where}, so its loss would be 0; raise num_patches"
                              + (" or the batch size" if self.negatives_from_minibatch else ""))
        if not self.paths():
            raise PluginError(f"plugin 'patchnce' finds no generator output to compare in recipe {recipe.name!r}; "
                              f"give pairs=[[generator, source, translated]]")
        for generator in self.paths():
            require("patchnce", recipe, generator, FeatureTaps, "; resnet_generator has these feature taps")

    def setup(self, recipe, instance):
        if self.pairs is None or self.identity_pairs is None:
            made = recipe.producible()
            x_path, y_path = [], []
            for direction, generator in recipe.translators.items():
                if isinstance(generator, str) and direction in DIRECTIONS:
                    (source, out), (real, idt) = DIRECTIONS[direction]
                    x_path += [(generator, source, out)] if {source, out} <= made else []
                    y_path += [(generator, real, idt)] if {real, idt} <= made else []
            self.pairs = x_path if self.pairs is None else self.pairs
            self.identity_pairs = y_path if self.identity_pairs is None else self.identity_pairs
        recipe.add_optimizer(OptimizerSpec(modules=[instance]), "F", phase=self.phase_of("G"))

    # -- the projection heads ------------------------------------------------------------------
    def modules(self):
        return dict(self._samplers)

    @torch.no_grad()
    def materialize(self, step):
        self._samplers, self._taps = {}, {}
        for generator, paths in self.paths().items():
            net = step.net(generator)
            self._taps[generator] = resolve_taps(net.tap_indices(), self.layers, generator)
            features = net.encode(step[paths[0][0]], self._taps[generator])
            sampler = PatchSampler([f.shape[1] for f in features], self.head_width)
            self._samplers[generator] = init_weights(sampler, "xavier", 0.02)

    def tap_layers(self, generator: str) -> list[int] | None:
        """The indices into ``generator`` that PatchNCE taps (None before ``materialize``): what a
        recipe records for ``taps_product``."""
        taps = self._taps.get(generator)
        return None if taps is None else list(taps)

    # -- the loss ------------------------------------------------------------------------------
    def key_maps(self, step, generator: str, source: str) -> list:
        """``generator``'s encoder maps of ``source`` at the tapped layers, without gradient: those the
        recipe recorded in ``taps_product(generator, source)`` where it offers them (the same values:
        the same network on the same images, and instance norm is per image), else an ``encode`` pass."""
        name = taps_product(generator, source)
        maps = step[name] if step.has(name) else None  # outside no_grad: it may run the translation
        if maps is None:
            with torch.no_grad():
                return step.net(generator).encode(step[source], self._taps[generator])
        if len(maps) != len(self._taps[generator]):
            raise PluginError(f"plugin 'patchnce': product {name!r} holds {len(maps)} maps for "
                              f"{len(self._taps[generator])} tapped layers")
        return [m.detach() for m in maps]

    def features(self, step, generator: str, source: str, translated: str, flipped: bool = False):
        """Per tapped layer, (query, key): projected (B, P, width) features of ``translated`` and of
        ``source`` at the same P locations. The key call draws the locations, the query reuses them."""
        if generator not in self._samplers:
            raise PluginError("plugin 'patchnce' has no projection head yet: materialize(step) runs first")
        net, sampler, taps = step.net(generator), self._samplers[generator], self._taps[generator]
        key_maps = self.key_maps(step, generator, source)
        with torch.no_grad():
            ids = [PatchSampler.draw_ids(k, self.num_patches) for k in key_maps]
            keys = sampler(key_maps, ids)
        query_maps = net.encode(step[translated], taps)
        if flipped:  # the output came from the mirrored input: mirror its features back into place
            query_maps = [q.flip(-1) for q in query_maps]
        return list(zip(sampler(query_maps, ids), keys))

    def loss(self, step, role):
        flipped = self.flip_equivariance and bool(step["flipped"])
        per_generator = []
        for generator, paths in self.paths().items():
            nce = []
            for source, translated in paths:
                layers = [patch_nce_loss(q, k, self.temperature, self.negatives_from_minibatch).mean()
                          for q, k in self.features(step, generator, source, translated, flipped)]
                nce.append(torch.stack(layers).mean())
            per_generator.append(torch.stack(nce).mean())
        return summed(per_generator)
