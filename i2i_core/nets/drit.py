"""DRIT / DRIT++ networks (Lee et al. 2018, 2020), the concat variant of the DRIT reference code, src/networks.py,
and the generator of its feature-wise variant (``--concat 0``).

Every network serves both domains: ``forward(..., domain)`` picks the branch of domain "A" or
"B"; the blocks named ``*_share`` are common to both. State-dict keys follow the reference
(``convA.0.model.1``, ``conv_share.0.model.5``, ``decA2.0.model.1.weight``, ``Diss.2.4``, ...),
except the feature-wise generator's, which has the reference's 17,146,374 parameters under names
of its own.

The reference's two discriminator quirks are the defaults, as *options*: its LeakyReLU conv block
never inserts the instance norm it is asked for (a string comparison that is always false), so
the image and content discriminators run un-normalised (``norm="none"``; the paper's
``norm="instance"`` is a setting), and its LeakyReLU has PyTorch's slope 0.01 (``slope=0.2`` is
the usual GAN choice).

Sizes the reference fixes are derived from the image instead:

* ``MultiScaleDiscriminator`` keeps ``num_scales`` (3) scales while the smallest one still
  takes ``n_layer`` reflect-padded stride-2 convs (an input of at least 2^n_layer pixels):
  3 scales from 64², 2 at 32². With ``norm="instance"`` (the paper's) the last conv must leave
  at least 2×2 for its norm (2^(n_layer + 1) pixels): 3 scales from 128², 2 at 64², 1 at 32².
* ``ContentDiscriminator``: the reference stacks three k7/s2/p1 convs and a k4 valid conv, which
  gives the single value per sample its BCE target needs only for content maps of 53–60 pixels
  (crops 212–240). Here the k7/s2/p1 convs repeat while one more leaves a map of at least 2×2,
  and the valid conv's kernel is whatever is left, so it always emits one value per sample:
  content 8 (image 32) → 1 conv, kernel 2; 16 → 1, kernel 6; 32 → 2, kernel 5; 54–60 → 3,
  kernel 4 (exactly the reference, 10,683,649 parameters at width 256); 64 → 3, kernel 5
  (11,273,473); 128 → 4, kernel 5.

Initialisation (the reference's ``gaussian_weights_init``): Conv2d and ConvTranspose2d weights
N(0, 0.02); biases and Linear layers keep PyTorch's defaults; layer-norm weight 1, bias 0. The
recipe builds these networks with ``NetSpec(init="none")`` so that nothing overrides it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import check_choice

DOMAINS = ("A", "B")
DIS_NORMS = ("none", "instance")


def drit_init(module: nn.Module) -> nn.Module:
    """Conv2d / ConvTranspose2d weights N(0, 0.02); everything else keeps its default."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
    return module


def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"domain must be 'A' or 'B', got {domain!r}")
    return domain


# -- blocks (DRIT reference, src/networks.py) ------------------------------------------------------

class LeakyReLUConv2d(nn.Module):
    """Reflection pad → conv (bias) → [instance norm] → LeakyReLU(slope)."""

    def __init__(self, c_in: int, c_out: int, kernel, stride: int, padding: int, norm: str = "none",
                 slope: float = 0.01):
        super().__init__()
        check_choice("discriminator norm", norm, DIS_NORMS)
        layers = [nn.ReflectionPad2d(padding), nn.Conv2d(c_in, c_out, kernel, stride)]
        if norm == "instance":
            layers.append(nn.InstanceNorm2d(c_out, affine=False))
        layers.append(nn.LeakyReLU(slope, inplace=True))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class ReLUINSConv2d(nn.Module):
    """Reflection pad → conv → instance norm (no affine) → ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.model = nn.Sequential(nn.ReflectionPad2d(padding), nn.Conv2d(c_in, c_out, kernel, stride),
                                   nn.InstanceNorm2d(c_out, affine=False), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.model(x)


class INSResBlock(nn.Module):
    """x + IN(conv3(ReLU(IN(conv3(x))))), reflection padding, no activation after the sum."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x):
        return x + self.model(x)


class DritLayerNorm(nn.Module):
    """Layer norm over (C, H, W) of each sample with a per-channel affine stored as (C, 1, 1)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x):
        return F.layer_norm(x, x.shape[1:], eps=self.eps) * self.weight + self.bias


class ReLULNConvTranspose2d(nn.Module):
    """Transposed conv k3/s2 (doubles H and W) → DRIT layer norm → ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.model = nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1),
                                   DritLayerNorm(c_out), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.model(x)


class GaussianNoise(nn.Module):
    """Adds N(0, 1) noise in training mode; the identity in eval mode."""

    def forward(self, x):
        return x + torch.randn_like(x) if self.training else x


class BasicBlock(nn.Module):
    """Pre-activation residual block that halves H and W (attribute encoder, no norm)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.LeakyReLU(0.2), nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_in, 3),
            nn.LeakyReLU(0.2), nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3), nn.AvgPool2d(2))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x):
        return self.conv(x) + self.shortcut(x)


def _tile(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return z[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


# -- networks (DRIT reference, src/networks.py) ----------------------------------------------------

class ContentEncoder(nn.Module):
    """E_c: per domain conv7 → two stride-2 convs → ``n_res`` residual blocks; shared: one residual
    block, then Gaussian noise (σ = 1, training mode only). Content: 4·ngf × H/4 × W/4."""

    size_multiple = 4

    def __init__(self, in_channels_A: int = 3, in_channels_B: int = 3, ngf: int = 64, n_res: int = 3):
        super().__init__()
        self.out_channels = 4 * ngf
        for domain, c_in in zip(DOMAINS, (in_channels_A, in_channels_B)):
            layers = [LeakyReLUConv2d(c_in, ngf, 7, 1, 3), ReLUINSConv2d(ngf, 2 * ngf, 3, 2, 1),
                      ReLUINSConv2d(2 * ngf, 4 * ngf, 3, 2, 1)]
            layers += [INSResBlock(4 * ngf) for _ in range(n_res)]
            setattr(self, f"conv{domain}", nn.Sequential(*layers))
        self.conv_share = nn.Sequential(INSResBlock(4 * ngf), GaussianNoise())
        drit_init(self)

    def forward(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        return self.conv_share(getattr(self, f"conv{_check_domain(domain)}")(x))


class AttributeEncoder(nn.Module):
    """E_a (concat variant): per domain reflect-pad conv4/s2, ``n_blocks`` BasicBlocks (widths
    ndf·min(4, n)), LeakyReLU 0.2, global average pool, then two Linear heads: μ and log-variance."""

    size_multiple = 8  # four halvings (n_blocks 3) before the global pool

    def __init__(self, in_channels_A: int = 3, in_channels_B: int = 3, ndf: int = 64, n_blocks: int = 3,
                 nz: int = 8):
        super().__init__()
        self.nz = nz
        widths = [ndf * min(4, n) for n in range(1, n_blocks + 2)]
        for domain, c_in in zip(DOMAINS, (in_channels_A, in_channels_B)):
            layers = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, ndf, 4, 2)]
            layers += [BasicBlock(a, b) for a, b in zip(widths, widths[1:])]
            layers += [nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1)]
            setattr(self, f"conv_{domain}", nn.Sequential(*layers))
            setattr(self, f"fc_{domain}", nn.Sequential(nn.Linear(widths[-1], nz)))
            setattr(self, f"fcVar_{domain}", nn.Sequential(nn.Linear(widths[-1], nz)))
        drit_init(self)

    def forward(self, x: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log-variance) of the attribute code, each N × nz."""
        _check_domain(domain)
        features = getattr(self, f"conv_{domain}")(x).flatten(1)
        return getattr(self, f"fc_{domain}")(features), getattr(self, f"fcVar_{domain}")(features)


class FeaturewiseAttributeEncoder(nn.Module):
    """E_a (feature-wise variant, the reference's ``--concat 0``): per domain reflect-pad conv7 to
    ``ndf`` channels, ``n_blocks + 1`` reflect-padded stride-2 conv4s (widths ndf·min(4, 2^k)), each
    followed by a ReLU, global average pool and a 1×1 conv to the code. Deterministic: it returns
    the code itself, no variance, and no norm anywhere. ``n_blocks`` counts as in the concat
    encoder, so both halve the image as often (3: four times)."""

    size_multiple = 8  # as the concat variant's; any size of at least ``min_size`` runs

    def __init__(self, in_channels_A: int = 3, in_channels_B: int = 3, ndf: int = 64, n_blocks: int = 3,
                 nz: int = 8):
        super().__init__()
        self.nz, self.n_blocks = nz, n_blocks
        # the conv7's reflect padding needs 4 pixels, the last stride-2 conv's a map of 2
        self.min_size = max(4, 2 ** (n_blocks + 1))
        widths = [ndf * min(4, 2 ** k) for k in range(n_blocks + 2)]
        for domain, c_in in zip(DOMAINS, (in_channels_A, in_channels_B)):
            layers = [nn.ReflectionPad2d(3), nn.Conv2d(c_in, ndf, 7), nn.ReLU(inplace=True)]
            for a, b in zip(widths, widths[1:]):
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(a, b, 4, 2), nn.ReLU(inplace=True)]
            layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(widths[-1], nz, 1)]
            setattr(self, f"model_{domain}", nn.Sequential(*layers))
        drit_init(self)

    def forward(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """The attribute code, N × nz."""
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"the attribute encoder with n_blocks = {self.n_blocks} needs images of at least "
                             f"{self.min_size} pixels a side, got {tuple(x.shape[-2:])}; lower nets.E_a.n_blocks "
                             f"or raise --image-size")
        return getattr(self, f"model_{_check_domain(domain)}")(x).flatten(1)


def _check_generator_inputs(generator, content: torch.Tensor, z: torch.Tensor, domain: str) -> None:
    _check_domain(domain)
    if content.shape[1] != generator.content_channels or z.shape[1] != generator.nz:
        raise ValueError(f"drit generator built for {generator.content_channels}-channel content and {generator.nz}-d "
                         f"codes got {content.shape[1]} and {z.shape[1]} (content channels are 4 × the content "
                         f"encoder's ngf; nz must match the attribute encoder's)")


class ConcatGenerator(nn.Module):
    """G (concat variant): shared residual block; per domain the code z is tiled and concatenated
    before ``n_res`` residual blocks and before each of the two up-sampling blocks and the final
    1×1 transposed conv (tanh). 256-channel content, nz 8: 264 → 272→136 → 144→72 → 80→3."""

    size_multiple = 4

    def __init__(self, content_channels: int = 256, out_channels_A: int = 3, out_channels_B: int = 3, nz: int = 8,
                 n_res: int = 3):
        super().__init__()
        self.nz, self.content_channels = nz, content_channels
        self.dec_share = nn.Sequential(INSResBlock(content_channels))
        for domain, c_out in zip(DOMAINS, (out_channels_A, out_channels_B)):
            width = content_channels + nz
            setattr(self, f"dec{domain}1", nn.Sequential(*[INSResBlock(width) for _ in range(n_res)]))
            width += nz
            setattr(self, f"dec{domain}2", nn.Sequential(ReLULNConvTranspose2d(width, width // 2)))
            width = width // 2 + nz
            setattr(self, f"dec{domain}3", nn.Sequential(ReLULNConvTranspose2d(width, width // 2)))
            width = width // 2 + nz
            setattr(self, f"dec{domain}4", nn.Sequential(nn.ConvTranspose2d(width, c_out, 1), nn.Tanh()))
        drit_init(self)

    def forward(self, content: torch.Tensor, z: torch.Tensor, domain: str) -> torch.Tensor:
        _check_generator_inputs(self, content, z, domain)
        out = self.dec_share(content)
        for k in range(1, 5):
            out = getattr(self, f"dec{domain}{k}")(torch.cat([out, _tile(z, out)], 1))
        return out


class MisINSResBlock(nn.Module):
    """Residual block of the feature-wise generator: after each of its two conv3 → IN, the code is
    tiled and concatenated, and two 1×1 convs with ReLUs (C + C_z → C + C_z → C) mix it in."""

    def __init__(self, channels: int, code_channels: int):
        super().__init__()
        width = channels + code_channels

        def conv_in():
            return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

        def mix():
            return nn.Sequential(nn.Conv2d(width, width, 1), nn.ReLU(inplace=True), nn.Conv2d(width, channels, 1),
                                 nn.ReLU(inplace=True))

        self.conv1, self.mix1, self.conv2, self.mix2 = conv_in(), mix(), conv_in(), mix()

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.mix1(torch.cat([out, _tile(code, out)], 1))
        out = self.conv2(out)
        return x + self.mix2(torch.cat([out, _tile(code, out)], 1))


class FeaturewiseGenerator(nn.Module):
    """G (feature-wise variant, the reference's ``--concat 0``): per domain an MLP nz → C → C → n·C
    whose n chunks drive ``n_res`` MisINSResBlocks on the content, then two ConvT blocks
    (C → C/2 → C/4) and a 1×1 transposed conv to the image (tanh). Nothing is shared between the
    domains. 256-channel content, nz 8, 4 blocks: the reference network."""

    size_multiple = 4

    def __init__(self, content_channels: int = 256, out_channels_A: int = 3, out_channels_B: int = 3, nz: int = 8,
                 n_res: int = 4):
        super().__init__()
        c = self.content_channels = content_channels
        self.nz, self.n_res = nz, n_res
        for domain, c_out in zip(DOMAINS, (out_channels_A, out_channels_B)):
            setattr(self, f"mlp{domain}", nn.Sequential(nn.Linear(nz, c), nn.ReLU(inplace=True), nn.Linear(c, c),
                                                        nn.ReLU(inplace=True), nn.Linear(c, n_res * c)))
            setattr(self, f"dec{domain}1", nn.ModuleList(MisINSResBlock(c, c) for _ in range(n_res)))
            setattr(self, f"dec{domain}2", nn.Sequential(
                ReLULNConvTranspose2d(c, c // 2), ReLULNConvTranspose2d(c // 2, c // 4),
                nn.ConvTranspose2d(c // 4, c_out, 1), nn.Tanh()))
        drit_init(self)

    def forward(self, content: torch.Tensor, z: torch.Tensor, domain: str) -> torch.Tensor:
        _check_generator_inputs(self, content, z, domain)
        out = content
        for block, code in zip(getattr(self, f"dec{domain}1"), getattr(self, f"mlp{domain}")(z).chunk(self.n_res, 1)):
            out = block(out, code)
        return getattr(self, f"dec{domain}2")(out)


def discriminator_scales(image_size: int, n_layer: int, num_scales: int, norm: str = "none") -> int:
    """How many of ``num_scales`` scales (each half the last) still take ``n_layer`` stride-2
    reflect-padded convs: the smallest input must be at least 2^n_layer pixels (at least one), and
    twice that when the convs are instance-normalised (a norm of a 1×1 map cannot train)."""
    scales, size = 0, image_size
    smallest = 2 ** (n_layer + (norm == "instance"))
    while scales < num_scales and size >= smallest:
        scales += 1
        size = (size + 1) // 2
    return max(1, scales)


class MultiScaleDiscriminator(nn.Module):
    """Per scale: ``n_layer`` LeakyReLU convs k4/s2/p1 (ndf doubling) → 1×1 conv to one logit map;
    the input is average-pooled (3, 2, 1, padding not counted) between scales. Returns the list
    of maps, finest first. ``image_size`` caps the number of scales (module docstring)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layer: int = 4, num_scales: int = 3,
                 image_size: int = 256, norm: str = "none", slope: float = 0.01):
        super().__init__()
        scales = discriminator_scales(image_size, n_layer, num_scales, norm)
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.Diss = nn.ModuleList()
        for _ in range(scales):
            layers, width = [LeakyReLUConv2d(in_channels, ndf, 4, 2, 1, norm, slope)], ndf
            for _ in range(1, n_layer):
                layers.append(LeakyReLUConv2d(width, 2 * width, 4, 2, 1, norm, slope))
                width *= 2
            layers.append(nn.Conv2d(width, 1, 1))
            self.Diss.append(nn.Sequential(*layers))
        drit_init(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for k, scale in enumerate(self.Diss):
            if k:
                x = self.downsample(x)
            maps.append(scale(x))
        return maps


def content_discriminator_layout(size: int) -> tuple[int, int]:
    """(number of k7/s2/p1 convs, kernel of the final valid conv) for a content map of ``size``:
    halve while one more conv leaves at least 2 pixels, then cover what is left."""
    n_down = 0
    while (size - 5) // 2 + 1 >= 2:
        size = (size - 5) // 2 + 1
        n_down += 1
    return n_down, size


class ContentDiscriminator(nn.Module):
    """D_c on content codes: k7/s2/p1 LeakyReLU convs, a valid LeakyReLU conv whose kernel covers
    the remaining map, a 1×1 conv → one logit per sample (shape N). ``size`` = content (H, W)."""

    def __init__(self, in_channels: int = 256, width: int = 256, size=(54, 54), norm: str = "none",
                 slope: float = 0.01):
        super().__init__()
        height, breadth = (size, size) if isinstance(size, int) else tuple(size)
        self.built_for = (int(height), int(breadth))
        n_down, _ = content_discriminator_layout(min(height, breadth))
        for _ in range(n_down):
            height, breadth = (height - 5) // 2 + 1, (breadth - 5) // 2 + 1
        layers, c_in = [], in_channels
        for _ in range(n_down):
            layers.append(LeakyReLUConv2d(c_in, width, 7, 2, 1, norm, slope))
            c_in = width
        # No norm on the last block: an instance norm of a 1×1 map is identically zero.
        layers += [LeakyReLUConv2d(c_in, width, (height, breadth), 1, 0, "none", slope), nn.Conv2d(width, 1, 1)]
        self.model = nn.Sequential(*layers)
        drit_init(self)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        logits = self.model(content)
        if logits.shape[2:] != (1, 1):
            raise ValueError(f"content discriminator built for {self.built_for} content maps got "
                             f"{tuple(content.shape[2:])}")
        return logits.flatten()


NETWORK_KINDS = {
    "drit_content_encoder": ContentEncoder,
    "drit_attribute_encoder": AttributeEncoder,
    "drit_featurewise_attribute_encoder": FeaturewiseAttributeEncoder,
    "drit_generator": ConcatGenerator,
    "drit_featurewise_generator": FeaturewiseGenerator,
    "drit_multiscale_discriminator": MultiScaleDiscriminator,
    "drit_content_discriminator": ContentDiscriminator,
}
