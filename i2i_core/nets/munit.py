"""MUNIT's networks (Huang et al. 2018; the MUNIT reference code, networks.py): one ``AdaINGen`` per domain and the
multi-scale LSGAN discriminator ``MsImageDis``.

Module names and nesting follow the reference, so state-dict keys are the reference's
(``enc_content.model.3.model.0.model.1.conv.weight``, ``dec.model.2.norm.gamma``,
``mlp.model.2.fc.weight``, ``cnns.0.4.weight``) and a released MUNIT ``gen_a``/``gen_b``/``dis_a``
state dict loads with ``load_state_dict``. For that parity every AdaIN layer keeps the reference's
two unused buffers (``running_mean`` zeros, ``running_var`` ones); nothing reads them.

One deliberate difference: ``encode_style`` returns codes of shape (B, style_dim), the shape every
i2i latent code has (``Translator.sample_code``), instead of the reference's (B, style_dim, 1, 1);
the numbers are the same and ``decode`` accepts either shape.

Sizes: the content encoder halves ``n_downsample`` times (inputs padded to a multiple of
``size_multiple`` at test time); the style encoder always halves 4 times and ends with a global
average pool, so any input of at least 16 px works (a 2×2 map before the pool at 32², 16×16 at
256²). The discriminator's ``n_layer`` halvings at each of ``num_scales`` scales need an image of
at least 2^(n_layer + num_scales − 1) px; ``discriminator_layers_for`` gives the largest
``n_layer`` ≤ 4 that fits (3 at 32², the reference's 4 from 64² up).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ReplicationPad2d

MUNIT_NORMS = ("in", "ln", "adain", "none")
MUNIT_ACTIVATIONS = ("relu", "lrelu", "tanh", "none")
MUNIT_PADDINGS = ("reflect", "replicate", "zero")


def _choice(what: str, value: str, allowed: tuple) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def _activation(name: str) -> nn.Module:
    _choice("activation", name, MUNIT_ACTIVATIONS)
    return {"relu": lambda: nn.ReLU(), "lrelu": lambda: nn.LeakyReLU(0.2), "tanh": lambda: nn.Tanh(),
            "none": lambda: nn.Identity()}[name]()


def _padding(pad_type: str, amount: int) -> nn.Module:
    _choice("padding", pad_type, MUNIT_PADDINGS)
    return {"reflect": nn.ReflectionPad2d, "replicate": ReplicationPad2d, "zero": nn.ZeroPad2d}[pad_type](amount)


class AdaptiveInstanceNorm2d(nn.Module):
    """y = γ·(x − μ)/sqrt(σ² + eps) + β with μ, σ² (biased) per sample and channel over H×W.

    γ and β are not learned here: ``AdaINGen.decode`` sets them per forward from its MLP
    (``style_params``, each of shape (B, C)), used raw, with no +1 offset.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.style_params: tuple[torch.Tensor, torch.Tensor] | None = None
        # Unused; kept so that reference state dicts load (see the module docstring).
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.style_params is None:
            raise RuntimeError("AdaIN layer used without style parameters; call AdaINGen.decode(content, style)")
        beta, gamma = self.style_params
        normalized = F.instance_norm(x, eps=self.eps)
        return normalized * gamma[:, :, None, None] + beta[:, :, None, None]


class MunitLayerNorm(nn.Module):
    """MUNIT's layer norm: per sample over C·H·W, y = (x − mean)/(std + eps)·γ_c + β_c, with the
    unbiased std and eps added outside the root; γ starts U[0, 1), β at 0 (not ``nn.LayerNorm``)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1).view(-1, 1, 1, 1)
        y = (x - mean) / (std + self.eps)
        return y * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


def _norm(name: str, channels: int) -> nn.Module:
    _choice("norm", name, MUNIT_NORMS)
    if name == "in":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if name == "ln":
        return MunitLayerNorm(channels)
    if name == "adain":
        return AdaptiveInstanceNorm2d(channels)
    return nn.Identity()


class ConvBlock(nn.Module):
    """Explicit padding → Conv2d (with bias) → norm → activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int,
                 norm: str = "none", activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.pad = _padding(pad_type, padding)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, bias=True)
        self.norm = _norm(norm, out_channels)
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(self.pad(x))))


class LinearBlock(nn.Module):
    def __init__(self, in_features: int, out_features: int, activation: str = "relu"):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=True)
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.fc(x))


class ResBlock(nn.Module):
    """x + [3×3 conv, norm, act, 3×3 conv, norm](x); nothing after the sum."""

    def __init__(self, dim: int, norm: str = "in", activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.model = nn.Sequential(ConvBlock(dim, dim, 3, 1, 1, norm, activation, pad_type),
                                   ConvBlock(dim, dim, 3, 1, 1, norm, "none", pad_type))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


class ResBlocks(nn.Module):
    def __init__(self, n_blocks: int, dim: int, norm: str = "in", activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.model = nn.Sequential(*[ResBlock(dim, norm, activation, pad_type) for _ in range(n_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MLP(nn.Module):
    """``n_blocks`` Linear layers in→dim→…→dim→out, ReLU between them, none after the last."""

    def __init__(self, in_features: int, out_features: int, dim: int, n_blocks: int = 3, activation: str = "relu"):
        super().__init__()
        if n_blocks < 2:
            raise ValueError(f"the MLP needs at least 2 layers, got {n_blocks}")
        layers = [LinearBlock(in_features, dim, activation)]
        layers += [LinearBlock(dim, dim, activation) for _ in range(n_blocks - 2)]
        layers.append(LinearBlock(dim, out_features, "none"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.flatten(1))


class ContentEncoder(nn.Module):
    """7×7 conv, ``n_downsample`` stride-2 4×4 convs doubling the width, ``n_res`` ResBlocks; IN throughout."""

    def __init__(self, n_downsample: int, n_res: int, in_channels: int, dim: int, norm: str = "in",
                 activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        layers = [ConvBlock(in_channels, dim, 7, 1, 3, norm, activation, pad_type)]
        for _ in range(n_downsample):
            layers.append(ConvBlock(dim, 2 * dim, 4, 2, 1, norm, activation, pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, norm, activation, pad_type))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class StyleEncoder(nn.Module):
    """7×7 conv, 4 stride-2 convs (the first two double the width), global average pool, 1×1 conv
    to ``style_dim``; no normalisation. Returns (B, style_dim)."""

    HALVINGS = 4

    def __init__(self, in_channels: int, dim: int, style_dim: int, activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        layers = [ConvBlock(in_channels, dim, 7, 1, 3, "none", activation, pad_type)]
        for k in range(self.HALVINGS):
            wider = 2 * dim if k < 2 else dim
            layers.append(ConvBlock(dim, wider, 4, 2, 1, "none", activation, pad_type))
            dim = wider
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).flatten(1)


class Decoder(nn.Module):
    """``n_res`` AdaIN ResBlocks, then per upsampling nearest ×2 and a 5×5 conv halving the width
    with MUNIT's layer norm, then a 7×7 conv and tanh."""

    def __init__(self, n_upsample: int, n_res: int, dim: int, out_channels: int, activation: str = "relu",
                 pad_type: str = "reflect"):
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, "adain", activation, pad_type)]
        for _ in range(n_upsample):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       ConvBlock(dim, dim // 2, 5, 1, 2, "ln", activation, pad_type)]
            dim //= 2
        layers.append(ConvBlock(dim, out_channels, 7, 1, 3, "none", "tanh", pad_type))
        self.model = nn.Sequential(*layers)

    def adain_layers(self) -> list[AdaptiveInstanceNorm2d]:
        return [m for m in self.modules() if isinstance(m, AdaptiveInstanceNorm2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class AdaINGen(nn.Module):
    """One domain's autoencoder: content encoder, style encoder, AdaIN decoder and the MLP that
    maps a style code to every AdaIN layer's (β, γ). Satisfies ``ContentStyleModel``.

    ``G(x)`` reconstructs x from its own content and style; ``G(x, style)`` renders x's content
    with the given style (what this domain's decoder makes of it).
    """

    def __init__(self, channels: int = 3, dim: int = 64, style_dim: int = 8, n_downsample: int = 2, n_res: int = 4,
                 mlp_dim: int = 256, mlp_blocks: int = 3, activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.style_dim = style_dim
        self.size_multiple = 2 ** n_downsample  # ``i2i translate`` pads inputs to this
        self.enc_style = StyleEncoder(channels, dim, style_dim, activation, pad_type)
        self.enc_content = ContentEncoder(n_downsample, n_res, channels, dim, "in", activation, pad_type)
        self.dec = Decoder(n_downsample, n_res, self.enc_content.output_dim, channels, activation, pad_type)
        n_params = sum(2 * layer.channels for layer in self.dec.adain_layers())
        self.mlp = MLP(style_dim, n_params, mlp_dim, mlp_blocks, activation)

    def encode_content(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc_content(x)

    def encode_style(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc_style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        params = self.mlp(style)
        layers = self.dec.adain_layers()
        # Registration order, mean (β) first, then std (γ), C columns each.
        for layer in layers:
            c = layer.channels
            layer.style_params = (params[:, :c], params[:, c:2 * c])
            params = params[:, 2 * c:]
        try:
            return self.dec(content)
        finally:
            for layer in layers:  # drop the references so the MLP's graph is not kept alive
                layer.style_params = None

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode_content(x), self.encode_style(x) if style is None else style)


class MsImageDis(nn.Module):
    """Multi-scale discriminator: the same PatchGAN-like stack at ``num_scales`` scales of the input
    (each next scale average-pooled 3×3, stride 2, padding not counted); returns a list of maps.

    Per scale: 4×4 stride-2 conv (no norm) and ``n_layer − 1`` more doubling the width (``norm``),
    all LeakyReLU 0.2, then a 1×1 conv to one channel.
    """

    def __init__(self, channels: int = 3, dim: int = 64, n_layer: int = 4, norm: str = "none",
                 activation: str = "lrelu", num_scales: int = 3, pad_type: str = "reflect"):
        super().__init__()
        if n_layer < 1 or num_scales < 1:
            raise ValueError(f"MsImageDis needs n_layer >= 1 and num_scales >= 1 (got {n_layer}, {num_scales})")
        if norm == "adain":
            raise ValueError("MsImageDis cannot use AdaIN (it has no style)")
        self.n_layer, self.num_scales = n_layer, num_scales
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.cnns = nn.ModuleList([self._scale(channels, dim, n_layer, norm, activation, pad_type)
                                   for _ in range(num_scales)])

    @staticmethod
    def _scale(channels, dim, n_layer, norm, activation, pad_type) -> nn.Sequential:
        layers = [ConvBlock(channels, dim, 4, 2, 1, "none", activation, pad_type)]
        for _ in range(n_layer - 1):
            layers.append(ConvBlock(dim, 2 * dim, 4, 2, 1, norm, activation, pad_type))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return nn.Sequential(*layers)

    def min_size(self) -> int:
        return 2 ** (self.n_layer + self.num_scales - 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if min(x.shape[-2:]) < self.min_size():
            raise ValueError(f"MsImageDis with n_layer {self.n_layer} and {self.num_scales} scales needs images of at "
                             f"least {self.min_size()} px, got {tuple(x.shape[-2:])}; lower n_layer or num_scales")
        outputs = []
        for scale, cnn in enumerate(self.cnns):
            if scale:
                x = self.downsample(x)
            outputs.append(cnn(x))
        return outputs


def discriminator_layers_for(image_size: int, num_scales: int = 3, n_layer: int = 4) -> int:
    """The largest depth ≤ ``n_layer`` whose smallest scale still gives a map of at least 1×1."""
    fits = int(math.log2(image_size)) - num_scales + 1
    if fits < 1:
        raise ValueError(f"a {num_scales}-scale MUNIT discriminator cannot judge {image_size}² images")
    return min(n_layer, fits)


# Registered as network kinds (``nets.<NAME>.kind``) by i2i_plugins.builtin.
NETWORK_KINDS = {"munit_generator": AdaINGen, "munit_discriminator": MsImageDis}
