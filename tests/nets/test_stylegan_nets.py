"""SinCUT's StyleGAN2-style networks (Park et al. 2020; the CUT reference code,
models/stylegan_networks.py): parameter counts and reference keys, sizes, feature taps, gradients,
noise, and the numerics of equalised convs, blur and upsampling."""
import math

import pytest
import torch
import torch.nn.functional as F

from helpers import n_params, on_meta
from i2i_core.nets.stylegan import (Blur, ConvLayer, EqualConv2d, StyledConv, StyleGAN2Discriminator,
                                    StyleGAN2Generator)


def test_generator_parameter_count_and_reference_keys():
    net = on_meta(StyleGAN2Generator, ngf=10, image_size=64)
    keys = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert n_params(net) == 3_068_404
    assert keys["encoder.convs.2.conv2.0.kernel"] == (4, 4)
    assert keys["encoder.convs.2.conv2.1.weight"] == (160, 80, 3, 3)
    assert keys["encoder.convs.1.0.weight"] == (80, 3, 1, 1) and keys["encoder.convs.1.1.bias"] == (80,)
    assert keys["encoder.convs.2.skip.1.weight"] == (160, 80, 1, 1)
    assert "encoder.convs.3.skip.1.weight" not in keys  # same width, no downsampling: identity skip
    assert keys["decoder.convs.3.conv.weight"] == (1, 80, 160, 3, 3)
    assert keys["decoder.convs.3.noise.weight"] == (1,)
    assert keys["decoder.convs.4.0.weight"] == (3, 80, 1, 1)
    assert len(net.encoder.convs) == 6 and len(net.decoder.convs) == 5


def test_discriminator_parameter_count_and_reference_keys():
    net = on_meta(StyleGAN2Discriminator, ndf=8, image_size=64)
    keys = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert n_params(net) == 5_885_473
    assert keys["convs.0.0.weight"] == (32, 3, 1, 1)
    assert keys["convs.1.skip.1.weight"] == (64, 32, 1, 1)
    assert keys["convs.4.conv2.1.weight"] == (384, 256, 3, 3)
    assert keys["final_conv.0.weight"] == (384, 384, 3, 3)
    assert keys["final_linear.0.weight"] == (384, 6144) and keys["final_linear.1.weight"] == (1, 384)


def test_networks_are_sized_by_the_nearest_power_of_two():
    assert n_params(on_meta(StyleGAN2Generator, image_size=60)) == 3_068_404
    small = on_meta(StyleGAN2Discriminator, ndf=2, image_size=32)
    assert len(small.convs) == 4 and tuple(small.final_linear[0].weight.shape) == (128, 128 * 16)


def test_generator_taps_shapes_and_any_even_size():
    torch.manual_seed(0)
    net = StyleGAN2Generator(ngf=10, image_size=64)
    taps = net.tap_indices()
    assert {k: taps[k] for k in ("input", "down1", "res2")} == {"input": 0, "down1": 2, "res2": 4}
    x = torch.randn(2, 3, 64, 64)
    feats = net.encode(x, [taps["input"], taps["down1"], taps["res2"]])
    assert [tuple(f.shape) for f in feats] == [(2, 3, 64, 64), (2, 160, 32, 32), (2, 160, 32, 32)]
    assert torch.equal(feats[0], x)
    assert torch.equal(net.encode(x, [4])[0], feats[2])
    assert net.size_multiple == 2
    for size in ((64, 64), (46, 58)):
        assert net(torch.randn(1, 3, *size)).shape == (1, 3, *size)
    with pytest.raises(ValueError):
        net.encode(x, [4, 2])


def test_cpu_forward_and_backward_reach_every_parameter():
    torch.manual_seed(0)
    gen, disc = StyleGAN2Generator(ngf=2, image_size=32), StyleGAN2Discriminator(ndf=2, image_size=32)
    with torch.no_grad():
        gen.decoder.convs[3].noise.weight.fill_(0.1)
    score = disc(gen(torch.randn(2, 3, 32, 32)))
    assert score.shape == (2, 1)
    score.sum().backward()
    for net in (gen, disc):
        missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing
    with pytest.raises(ValueError, match="32×32"):
        disc(torch.randn(1, 3, 64, 64))


def test_noise_is_fresh_at_every_call_and_follows_the_global_generator():
    torch.manual_seed(0)
    net = StyleGAN2Generator(ngf=2, image_size=32)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        quiet = net(x)
        assert torch.equal(quiet, net(x))  # the noise weight starts at 0
        net.decoder.convs[3].noise.weight.fill_(1.0)
        torch.manual_seed(5)
        first, second = net(x), net(x)
        torch.manual_seed(5)
        replay = net(x)
    assert not torch.equal(first, second) and torch.equal(first, replay)


def test_equalised_conv_blur_and_upsampling_numerics():
    torch.manual_seed(0)
    conv = EqualConv2d(4, 5, 3, padding=1)
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight / math.sqrt(4 * 9), conv.bias, padding=1), atol=1e-6)
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.15)  # stored N(0, 1)
    constant = torch.full((1, 2, 12, 12), 0.7)
    assert torch.allclose(Blur((2, 2))(constant)[..., 3:-3, 3:-3], constant[..., :7, :7])  # gain 1
    # Stride-2 downsampling ConvLayer: H → H/2 for the 3×3 conv and the 1×1 skip alike.
    assert ConvLayer(2, 3, 3, downsample=True)(constant).shape == (1, 3, 6, 6)
    assert ConvLayer(2, 3, 1, downsample=True, activate=False, bias=False)(constant).shape == (1, 3, 6, 6)
    up = StyledConv(2, 3)
    out = up.conv(torch.randn(1, 2, 5, 7))
    assert out.shape == (1, 3, 10, 14)
    weight = up.conv.weight[0] / math.sqrt(2 * 9)
    demodulated = weight / weight.pow(2).sum((1, 2, 3), keepdim=True).sqrt()
    # A constant input through the stride-2 transposed conv and the ×4 blur stays constant inside,
    # at the sum of every tap: each axis alternates 2 taps / 1 tap, which [1,3,3,1]·2/8 averages.
    flat = up.conv(torch.ones(1, 2, 8, 8))[..., 4:-4, 4:-4]
    assert torch.allclose(flat, demodulated.sum((1, 2, 3)).view(1, 3, 1, 1).expand_as(flat), atol=1e-5)
