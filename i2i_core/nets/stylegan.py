"""StyleGAN2-style generator and discriminator of SinCUT (the CUT reference code, models/stylegan_networks.py).

Equalised learning rate: weights are stored N(0, 1) and scaled by 1/√fan_in at run time, so
these networks skip the global initialisation (``NetSpec(init="none")``). Module layouts follow
the CUT reference so that state-dict keys match it (``encoder.convs.2.conv2.1.weight``,
``decoder.convs.3.conv.weight``, ``convs.1.skip.1.weight``, ``final_linear.0.weight``). Unlike the
reference, everything runs on the CPU as well (no hard-coded ``.cuda()``).

Channel widths depend on the resolution r = 2^round(log2(image_size)) the networks are sized for:
generator ch(r) = round(16384/r · ngf/32), capped at 512 for r ≤ 32; discriminator
ch(r) = int(16384/r · ndf/64), capped at 384 for r ≤ 32. At ngf 10, ndf 8, 64² this gives the
reference's 3 068 404 (G) and 5 885 473 (D) parameters.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

BLUR_TAPS = (1, 3, 3, 1)
LEAKY_SLOPE = 0.2


def sized_resolution(image_size: int) -> int:
    """The power of two the networks are sized for: 2^round(log2(size)), as the reference."""
    if image_size < 8:
        raise ValueError(f"StyleGAN2 networks need an image size of at least 8, got {image_size}")
    return 2 ** round(math.log2(image_size))


def generator_channels(resolution: int, ngf: int) -> int:
    width = round(16384 / resolution * ngf / 32)
    return min(512, width) if resolution <= 32 else width


def discriminator_channels(resolution: int, ndf: int) -> int:
    width = int(16384 / resolution * ndf / 64)
    return min(384, width) if resolution <= 32 else width


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """leaky_relu(x + b, 0.2) · √2; the √2 keeps the activations' second moment at unit gain."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return F.leaky_relu(x + bias.view(shape), LEAKY_SLOPE) * math.sqrt(2)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class EqualConv2d(nn.Module):
    """Conv2d whose N(0, 1) weight is scaled by 1/√(in·k²) at every call (equalised learning rate)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with an N(0, 1) weight scaled by 1/√in at every call; optionally fused leaky ReLU."""

    def __init__(self, in_features: int, out_features: int, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = 1 / math.sqrt(in_features)
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias)
        return F.linear(x, self.weight * self.scale, self.bias)


class Blur(nn.Module):
    """Zero-pad by ``pad`` = (before, after) on both axes, then a [1,3,3,1]² low-pass per channel.

    After a stride-2 transposed conv the kernel is ×4, because zero insertion leaves one tap in four.
    """

    def __init__(self, pad: tuple[int, int], gain: float = 1.0):
        super().__init__()
        row = torch.tensor(BLUR_TAPS, dtype=torch.float32)
        self.register_buffer("kernel", torch.outer(row, row) / row.sum() ** 2 * gain)
        self.pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before, after = self.pad
        x = F.pad(x, (before, after, before, after))
        channels = x.shape[1]
        weight = self.kernel.flip(0, 1).expand(channels, 1, *self.kernel.shape)  # a true convolution
        return F.conv2d(x, weight.to(x.dtype), groups=channels)


class ConvLayer(nn.Sequential):
    """[Blur] → EqualConv2d → [FusedLeakyReLU]; ``downsample`` blurs then convolves with stride 2.

    The conv has a bias of its own only without activation (the activation carries the bias).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = len(BLUR_TAPS) - 2 + kernel_size - 1
            layers.append(Blur(((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """(conv2(conv1(x)) + skip(x)) / √2; ``downsample`` halves the resolution in conv2 and the skip."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool = False):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=downsample)
        if in_channels != out_channels or downsample:
            self.skip = ConvLayer(in_channels, out_channels, 1, downsample=downsample, bias=False, activate=False)
        else:
            self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class NoiseInjection(nn.Module):
    """x + w · n with a learnt scalar w (init 0) and fresh n ~ N(0, 1) per pixel at every call,
    drawn from torch's global generator of the input's device (so a resume replays it)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        noise = x.new_empty(batch, 1, height, width).normal_()
        return x + self.weight * noise


class StyledConv(nn.Module):
    """×2 upsampling modulated 3×3 conv with the style fixed to ones (SinCUT has no mapping network).

    Weight demodulation: w ← w / √(Σ_{in,kh,kw} w² + 1e-8) per output channel; then a stride-2
    transposed conv, a ×4 blur, noise injection and a fused leaky ReLU. Output exactly 2H × 2W.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = _ModulatedUpConv(in_channels, out_channels, kernel_size)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x)))


class _ModulatedUpConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        # The reference keeps a leading batch axis for per-sample styles; kept for its keys/shapes.
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        p = len(BLUR_TAPS) - 2 - (kernel_size - 1)
        self.blur = Blur(((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight[0] * self.scale  # a style of ones leaves the weight as it is
        weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        # Every sample shares the weight, so one ungrouped transposed conv replaces the per-sample groups.
        return self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=0))


class _Convs(nn.Module):
    """A ``convs`` Sequential under its own name, for the reference's ``encoder.convs.*`` keys."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


class StyleGAN2Generator(nn.Module):
    """SinCUT's encoder/decoder (CUT ``stylegan2`` netG), fully convolutional.

    encoder.convs: 0 Identity (input); 1 ConvLayer(in → ch(r), 1×1); then ``n_downsampling``
    ResBlocks halving the resolution; then n_blocks/2 ResBlocks at the bottleneck.
    decoder.convs: n_blocks/2 ResBlocks; ``n_downsampling`` StyledConvs (×2 each); ConvLayer(→ out,
    1×1) with fused leaky ReLU and no tanh: the output is not bounded to [−1, 1], as in the reference.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 10, image_size: int = 64,
                 n_blocks: int = 6, n_downsampling: int = 1):
        super().__init__()
        if n_blocks < 0 or n_downsampling < 0:
            raise ValueError(f"n_blocks and n_downsampling must be >= 0 (got {n_blocks}, {n_downsampling})")
        res = sized_resolution(image_size)
        if res >> n_downsampling < 4:
            raise ValueError(f"{n_downsampling} downsamplings leave less than 4×4 of a {res}×{res} crop")
        ch = lambda r: generator_channels(r, ngf)  # noqa: E731
        self.size_multiple = 2 ** n_downsampling  # inputs are padded to this by ``i2i translate``

        encoder: list[nn.Module] = [nn.Identity(), ConvLayer(in_channels, ch(res), 1)]
        self._taps = {"input": 0, "conv_in": 1}
        r = res
        for k in range(n_downsampling):
            self._taps[f"down{k + 1}"] = len(encoder)
            encoder.append(ResBlock(ch(r), ch(r // 2), downsample=True))
            r //= 2
        for k in range(n_blocks // 2):
            self._taps[f"res{k + 1}"] = len(encoder)
            encoder.append(ResBlock(ch(r), ch(r)))
        self.encoder = _Convs(encoder)

        decoder: list[nn.Module] = [ResBlock(ch(r), ch(r)) for _ in range(n_blocks // 2)]
        for _ in range(n_downsampling):
            decoder.append(StyledConv(ch(r), ch(r * 2)))
            r *= 2
        decoder.append(ConvLayer(ch(r), out_channels, 1))
        self.decoder = _Convs(decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def encode(self, x: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
        """Outputs of ``encoder.convs`` modules at the (ascending) indices ``layers``.

        Stops after the last one: the reference runs the whole encoder, but later modules cannot
        change earlier outputs and the encoder draws no noise, so the taps are identical."""
        wanted = list(layers)
        convs = self.encoder.convs
        if wanted != sorted(set(wanted)):
            raise ValueError(f"encode layers must be strictly ascending, got {wanted}")
        if wanted and not 0 <= wanted[0] <= wanted[-1] < len(convs):
            raise ValueError(f"encode layers must lie in 0..{len(convs) - 1}, got {wanted}")
        feats: list[torch.Tensor] = []
        for index, module in enumerate(convs):
            if len(feats) == len(wanted):
                break
            x = module(x)
            if index == wanted[len(feats)]:
                feats.append(x)
        return feats

    def tap_indices(self) -> dict[str, int]:
        """Semantic tap name → index into ``encoder.convs`` (the CUT reference's ``nce_layers`` for SinCUT).

        ``input`` (the image itself, 0), ``conv_in`` (the 1×1 input conv, 1), ``down{k}`` (output
        of the k-th downsampling ResBlock), ``res{k}`` (output of the k-th bottleneck ResBlock).
        SinCUT's taps 0, 2, 4 are ``input``, ``down1``, ``res2``.
        """
        return dict(self._taps)


class StyleGAN2Discriminator(nn.Module):
    """SinCUT's discriminator (CUT ``stylegan2`` netD, no minibatch-stddev): one logit per image.

    convs: ConvLayer(in → ch(r), 1×1), then downsampling ResBlocks from r×r down to 4×4;
    final_conv: ConvLayer(3×3) at 4×4; final_linear: EqualLinear(ch(4)·16 → ch(4), fused lrelu) →
    EqualLinear(→ 1). Output (B, 1). Only inputs of exactly the sized resolution fit the linear head.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 8, image_size: int = 64):
        super().__init__()
        res = sized_resolution(image_size)
        ch = lambda r: discriminator_channels(r, ndf)  # noqa: E731
        self.resolution = res
        layers: list[nn.Module] = [ConvLayer(in_channels, ch(res), 1)]
        r = res
        while r > 4:
            layers.append(ResBlock(ch(r), ch(r // 2), downsample=True))
            r //= 2
        self.convs = nn.Sequential(*layers)
        self.final_conv = ConvLayer(ch(4), ch(4), 3)
        self.final_linear = nn.Sequential(EqualLinear(ch(4) * 4 * 4, ch(4), activate=True), EqualLinear(ch(4), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.resolution, self.resolution):
            raise ValueError(f"this discriminator is sized for {self.resolution}×{self.resolution} inputs, "
                             f"got {x.shape[-2]}×{x.shape[-1]}")
        out = self.final_conv(self.convs(x))
        return self.final_linear(out.flatten(1))


# Registered as network kinds (``nets.<NAME>.kind``) by i2i_plugins.builtin.
NETWORK_KINDS = {"stylegan2_generator": StyleGAN2Generator, "stylegan2_discriminator": StyleGAN2Discriminator}
