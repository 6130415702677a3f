"""ResNet generator in the CycleGAN layout and the CUT anti-aliased layout (``ResnetGenerator`` of the
CycleGAN and of the CUT reference code, models/networks.py).

The whole network is one ``self.model`` Sequential so that state-dict keys (``model.1.weight``,
``model.10.conv_block.1.weight``, ``model.7.filt``) equal the released checkpoints' keys, and so
that PatchNCE can tap it by index (the CUT reference's ``nce_layers``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .blocks import Downsample, Upsample, check_choice, conv_bias_for, norm_layer, padding_layers, PADDINGS


class ResnetBlock(nn.Module):
    """x + [pad, conv3, norm, ReLU, (dropout), pad, conv3, norm](x); no ReLU after the sum."""

    def __init__(self, dim: int, norm: str = "instance", dropout: bool = False, padding: str = "reflect"):
        super().__init__()
        check_choice("padding", padding, PADDINGS)
        conv_padding = 1 if padding == "zero" else 0
        bias = conv_bias_for(norm)
        layers: list[nn.Module] = []
        for second in (False, True):
            layers += padding_layers(padding, 1)
            layers += [nn.Conv2d(dim, dim, 3, padding=conv_padding, bias=bias), norm_layer(norm, dim)]
            if not second:
                layers.append(nn.ReLU())
                if dropout:
                    layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Encoder (7×7 conv + ``n_downsampling`` halvings) → ``n_blocks`` residual blocks → decoder.

    ``antialias`` replaces each stride-2 conv by stride-1 conv → norm → ReLU → blur Downsample;
    ``antialias_up`` (defaults to ``antialias``) replaces each transposed conv by blur Upsample →
    stride-1 conv. ReLUs are not in-place so that ``encode`` returns each module's true output.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: bool = False,
        n_downsampling: int = 2,
        antialias: bool = False,
        antialias_up: bool | None = None,
        padding: str = "reflect",
    ):
        super().__init__()
        if n_blocks < 0 or n_downsampling < 0:
            raise ValueError(f"n_blocks and n_downsampling must be >= 0 (got {n_blocks}, {n_downsampling})")
        if antialias_up is None:
            antialias_up = antialias
        self.size_multiple = 2 ** n_downsampling  # inputs are padded to this by ``i2i translate``
        bias = conv_bias_for(norm)
        layers: list[nn.Module] = []
        self._taps: dict[str, int] = {}

        def add_tap(name: str, module: nn.Module) -> None:
            self._taps[name] = len(layers)
            layers.append(module)

        # The outer 7×7 convs always use reflection padding, whatever ``padding`` says (reference).
        add_tap("padded_input", nn.ReflectionPad2d(3))
        layers += [nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU()]

        for k in range(n_downsampling):
            c_in, c_out = ngf * 2**k, ngf * 2 ** (k + 1)
            stride = 1 if antialias else 2
            add_tap(f"down{k + 1}_conv", nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias))
            layers += [norm_layer(norm, c_out), nn.ReLU()]
            if antialias:
                layers.append(Downsample(c_out))

        dim = ngf * 2**n_downsampling
        for k in range(n_blocks):
            add_tap(f"res{k + 1}", ResnetBlock(dim, norm, dropout, padding))

        for k in range(n_downsampling):
            c_in = ngf * 2 ** (n_downsampling - k)
            c_out = c_in // 2
            if antialias_up:
                layers += [Upsample(c_in), nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)]
            else:
                layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=bias))
            layers += [norm_layer(norm, c_out), nn.ReLU()]

        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, taps: Sequence[int] | None = None):
        """The translation of ``x``; with ``taps`` (ascending indices, as ``encode`` takes them) the pair
        (translation, ``encode(x, taps)``): the encoder maps come from the same pass, at no extra cost
        (CUT's PatchNCE keys are the maps of G's own input)."""
        if taps is None:
            return self.model(x)
        return self._run(x, self._check_layers(taps), whole=True)

    def _check_layers(self, layers: Sequence[int]) -> list[int]:
        wanted = list(layers)
        if wanted != sorted(set(wanted)):
            raise ValueError(f"encode layers must be strictly ascending, got {wanted}")
        if wanted and not 0 <= wanted[0] <= wanted[-1] < len(self.model):
            raise ValueError(f"encode layers must lie in 0..{len(self.model) - 1}, got {wanted}")
        return wanted

    def encode(self, x: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
        """Outputs of the modules at the (ascending) indices ``layers``; stops after the last one."""
        return self._run(x, self._check_layers(layers), whole=False)[1]

    def _run(self, x: torch.Tensor, wanted: list[int], whole: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(last module output, outputs at the indices ``wanted``); without ``whole`` the pass stops
        after the last wanted module."""
        feats: list[torch.Tensor] = []
        for index, module in enumerate(self.model):
            if not whole and len(feats) == len(wanted):
                break
            x = module(x)
            if len(feats) < len(wanted) and index == wanted[len(feats)]:
                feats.append(x)
        return x, feats

    def tap_indices(self) -> dict[str, int]:
        """Semantic tap name → index into ``self.model`` for this layout (CUT's ``nce_layers`` 0,4,8,12,16).

        Names: ``padded_input``, ``down{k}_conv`` (the k-th downsampling conv, pre-norm) for
        k = 1..n_downsampling, and ``res{k}`` (output of residual block k) for k = 1..n_blocks.
        """
        return dict(self._taps)


# Registered as network kinds (``nets.<NAME>.kind``) by i2i_plugins.builtin.
NETWORK_KINDS = {"resnet_generator": ResnetGenerator}
