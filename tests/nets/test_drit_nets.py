"""DRIT / DRIT++ networks (Lee et al. 2018, 2020; the DRIT reference code, src/networks.py): parameter
counts, state-dict keys, shapes, content noise, initialisation and discriminator options."""
import pytest
import torch

from helpers import n_params
from i2i_core.nets.drit import (AttributeEncoder, ConcatGenerator, ContentDiscriminator, ContentEncoder,
                                FeaturewiseAttributeEncoder, FeaturewiseGenerator, MultiScaleDiscriminator, _tile,
                                content_discriminator_layout)


def test_reference_parameter_counts():
    assert n_params(ContentEncoder()) == 9_018_112
    assert n_params(AttributeEncoder()) == 2_688_160
    assert n_params(ConcatGenerator()) == 9_564_710
    assert n_params(FeaturewiseGenerator()) == 17_146_374
    assert n_params(FeaturewiseAttributeEncoder()) == 5_529_872
    assert n_params(MultiScaleDiscriminator()) == 8_271_171
    # the reference's content D exists only for content maps of 53–60 (crops 212–240) ...
    for size in range(53, 61):
        assert content_discriminator_layout(size) == (3, 4)
    assert n_params(ContentDiscriminator(size=54)) == 10_683_649
    # ... elsewhere the final kernel covers what the stride-2 convs leave
    assert n_params(ContentDiscriminator(size=64)) == 11_273_473


def test_reference_key_layouts():
    keys = set(ContentEncoder().state_dict())
    assert {"conv_share.0.model.1.weight", "conv_share.0.model.5.weight", "convA.0.model.1.weight",
            "convA.2.model.1.weight", "convA.5.model.5.weight", "convB.3.model.1.bias"} <= keys
    keys = set(ConcatGenerator().state_dict())
    assert {"dec_share.0.model.1.weight", "decA1.2.model.5.weight", "decA2.0.model.0.weight", "decB4.0.weight"} <= keys
    assert ConcatGenerator().state_dict()["decA3.0.model.1.weight"].shape == (72, 1, 1)
    keys = set(MultiScaleDiscriminator().state_dict())
    assert {f"Diss.{s}.{k}.model.1.weight" for s in range(3) for k in range(4)} | {"Diss.2.4.weight"} <= keys
    assert set(ContentDiscriminator().state_dict()) == {f"model.{k}.model.1.{p}" for k in range(4) for p in
                                                        ("weight", "bias")} | {"model.4.weight", "model.4.bias"}


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(size):
    torch.manual_seed(0)
    x = torch.rand(2, 3, size, size) * 2 - 1
    e_c, e_a = ContentEncoder(ngf=8, n_res=1), AttributeEncoder(ndf=8, nz=8)
    g = ConcatGenerator(content_channels=32, nz=8, n_res=1)
    content = e_c(x, "A")
    assert content.shape == (2, 32, size // 4, size // 4)
    mu, logvar = e_a(x, "B")
    assert mu.shape == logvar.shape == (2, 8)
    out = g(content, mu, "B")
    assert out.shape == x.shape and out.abs().max() <= 1
    maps = MultiScaleDiscriminator(ndf=4, image_size=size)(x)
    assert [m.shape[-1] for m in maps] == ([2, 1] if size == 32 else [4, 2, 1])  # no scale below 16²
    with pytest.raises(ValueError, match="64-channel content"):
        ConcatGenerator(content_channels=64, nz=8, n_res=1)(content, mu, "A")


def test_featurewise_generator_takes_its_code_through_every_block_and_nothing_shared():
    torch.manual_seed(0)
    g = FeaturewiseGenerator(content_channels=32, nz=2, n_res=2)
    content, z = torch.randn(2, 32, 8, 8), torch.randn(2, 2)
    out = g(content, z, "B")
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    assert not torch.allclose(g(content, z.flip(0), "B"), out)  # the code matters
    assert not torch.allclose(g(content, z, "A"), out)  # each domain has its own networks
    out.sum().backward()
    for name, p in g.named_parameters():  # B's output trains B's MLP and blocks, none of A's
        assert (p.grad is not None and p.grad.abs().sum() > 0) == name.startswith(("mlpB", "decB")), name
    with pytest.raises(ValueError, match="32-channel content and 2-d codes"):
        g(content, torch.randn(2, 8), "A")
    # where the concat generator's residual blocks pass the tiled code on untouched: their
    # instance norms remove its constant maps from everything else
    concat = ConcatGenerator(content_channels=32, nz=2, n_res=1)
    shared = concat.dec_share(content)
    blocks = [concat.decB1(torch.cat([shared, _tile(code, shared)], 1)) for code in (z, z.flip(0))]
    assert torch.allclose(blocks[0][:, :32], blocks[1][:, :32], atol=1e-5)
    assert not torch.allclose(blocks[0][:, 32:], blocks[1][:, 32:])
    first, chunk = g.decB1[0], g.mlpB(z)[:, :32]  # the feature-wise block's conv outputs see its chunk
    assert not torch.allclose(first(content, chunk)[0], first(content, chunk.flip(0))[0])


def test_featurewise_attribute_encoder_is_deterministic_and_per_domain():
    torch.manual_seed(0)
    e_a = FeaturewiseAttributeEncoder(ndf=8, n_blocks=2, nz=3).train()
    with pytest.raises(ValueError, match="n_blocks = 2 needs images of at least 8 pixels"):
        e_a(torch.rand(1, 3, 8, 4), "A")
    assert e_a(torch.rand(1, 3, 8, 12), "A").shape == (1, 3)
    with pytest.raises(ValueError, match="at least 4 pixels"):  # the conv7's reflect padding, at any n_blocks
        FeaturewiseAttributeEncoder(ndf=4, n_blocks=0, nz=2)(torch.rand(1, 3, 2, 2), "A")
    assert not any(isinstance(m, (torch.nn.InstanceNorm2d, torch.nn.BatchNorm2d)) for m in e_a.modules())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    code = e_a(x, "A")
    assert code.shape == (2, 3) and torch.equal(code, e_a(x, "A"))  # no sampling while training
    assert torch.allclose(e_a(x[:1], "A"), code[:1], atol=1e-6)  # nothing mixes the batch
    assert not torch.allclose(e_a(x, "B"), code)
    with pytest.raises(ValueError, match="domain"):
        e_a(x, "C")


@pytest.mark.parametrize("image_size", [32, 64, 128, 216, 256, 512])
def test_content_discriminator_gives_one_value_per_sample(image_size):
    content = torch.randn(3, 4, image_size // 4, image_size // 4)
    d_c = ContentDiscriminator(in_channels=4, width=4, size=image_size // 4)
    assert d_c(content).shape == (3,)
    with pytest.raises(ValueError, match="content discriminator built for"):
        d_c(torch.randn(3, 4, image_size // 2, image_size // 2))


def test_content_noise_only_while_training():
    torch.manual_seed(0)
    e_c, x = ContentEncoder(ngf=8, n_res=1), torch.rand(1, 3, 32, 32)
    e_c.train()
    first, second = e_c(x, "A"), e_c(x, "A")
    assert (first - second).std().item() == pytest.approx(2 ** 0.5, rel=0.1)  # two N(0, 1) draws
    e_c.eval()
    assert torch.equal(e_c(x, "A"), e_c(x, "A"))
    assert (first - e_c(x, "A")).std().item() == pytest.approx(1.0, rel=0.1)


def test_initialisation_and_discriminator_options():
    torch.manual_seed(0)
    g, e_a = ConcatGenerator(), AttributeEncoder()
    conv_t = g.decA2[0].model[0]
    assert conv_t.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert conv_t.bias.abs().max() > 0  # biases keep PyTorch's default (uniform), not zero
    fc = e_a.fc_A[0]  # Linear keeps PyTorch's default: uniform in ±1/√fan_in
    assert fc.weight.abs().max().item() <= 1 / 256 ** 0.5 and fc.weight.std().item() > 0.03
    assert torch.equal(g.decA2[0].model[1].weight, torch.ones(136, 1, 1))
    plain = MultiScaleDiscriminator(ndf=4, image_size=128)
    paper = MultiScaleDiscriminator(ndf=4, image_size=128, norm="instance", slope=0.2)
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in paper.modules()) == 12
    assert {m.negative_slope for m in plain.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.01}
    assert {m.negative_slope for m in paper.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.2}


@pytest.mark.parametrize("size, plain_scales, paper_scales", [(32, 2, 1), (64, 3, 2), (128, 3, 3)])
def test_instance_normalised_discriminator_drops_scales_it_could_not_train(size, plain_scales, paper_scales):
    """The paper's D (instance norm) at the demo's 32²: the second scale's last conv would leave a
    1×1 map, whose instance norm raises in training; that scale is dropped instead."""
    x = torch.rand(2, 3, size, size)
    for norm, scales in (("none", plain_scales), ("instance", paper_scales)):
        d = MultiScaleDiscriminator(ndf=4, image_size=size, norm=norm).train()
        maps = d(x)
        assert len(maps) == scales and min(m.shape[-1] for m in maps) >= 1
