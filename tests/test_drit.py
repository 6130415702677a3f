"""DRIT / DRIT++: networks (spec §2.1–§2.2), the cross_cycle and code_l2 plugins, the recipes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core.nets.drit import (AttributeEncoder, ConcatGenerator, ContentDiscriminator, ContentEncoder,
                                MultiScaleDiscriminator, content_discriminator_layout)
from i2i_plugins.code_l2 import code_l2_loss
from i2i_plugins.cross_cycle import CrossCycle, cross_cycle_loss


def count(net):
    return sum(p.numel() for p in net.parameters())


# -- networks ----------------------------------------------------------------------------------

def test_reference_parameter_counts():
    assert count(ContentEncoder()) == 9_018_112
    assert count(AttributeEncoder()) == 2_688_160
    assert count(ConcatGenerator()) == 9_564_710
    assert count(MultiScaleDiscriminator()) == 8_271_171
    # the reference's content D exists only for content maps of 53–60 (crops 212–240) ...
    for size in range(53, 61):
        assert content_discriminator_layout(size) == (3, 4)
    assert count(ContentDiscriminator(size=54)) == 10_683_649
    # ... elsewhere the final kernel covers what the stride-2 convs leave
    assert count(ContentDiscriminator(size=64)) == 11_273_473


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
    plain = MultiScaleDiscriminator(ndf=4, image_size=64)
    paper = MultiScaleDiscriminator(ndf=4, image_size=64, norm="instance", slope=0.2)
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in paper.modules()) == 12
    assert {m.negative_slope for m in plain.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.01}
    assert {m.negative_slope for m in paper.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.2}


# -- cross_cycle and code_l2 -------------------------------------------------------------------

images = arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
                elements=st.floats(-1, 1, width=32))


@settings(max_examples=40, deadline=None)
@given(x=images, y=images)
def test_cross_cycle_property_mean_absolute_error(x, y):
    a = torch.from_numpy(x)
    assert cross_cycle_loss(a, a).item() == 0
    if x.shape == y.shape:
        b = torch.from_numpy(y)
        want = float(np.abs(x.astype(np.float64) - y).mean())
        assert cross_cycle_loss(a, b).item() == pytest.approx(want, rel=1e-5, abs=1e-6)
        assert cross_cycle_loss(a, b).item() == pytest.approx(cross_cycle_loss(b, a).item(), abs=1e-7)
    else:  # a half batch against a full one must not broadcast silently
        with pytest.raises(ValueError, match="one shape"):
            cross_cycle_loss(a, torch.from_numpy(y))


@settings(max_examples=20, deadline=None)
@given(x=images, y=images)
def test_cross_cycle_property_sums_both_directions(x, y):
    torch.manual_seed(0)
    a, b = torch.from_numpy(x), torch.from_numpy(y)
    from i2i_core.step import Step

    step = Step({"rec_A": a, "real_A_encoded": torch.zeros_like(a), "rec_B": b, "real_B_encoded": b * 0.5}, {}, {})
    want = a.abs().mean() + (b * 0.5).abs().mean()
    assert CrossCycle().loss(step, "G").item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(x=images, k=st.floats(0, 4))
def test_code_l2_property_mean_square_and_scaling(x, k):
    c = torch.from_numpy(x)
    assert code_l2_loss(c).item() == pytest.approx(float((x.astype(np.float64) ** 2).mean()), rel=1e-5, abs=1e-7)
    assert code_l2_loss(k * c).item() == pytest.approx(k * k * code_l2_loss(c).item(), rel=1e-4, abs=1e-6)
    assert code_l2_loss(-c).item() == pytest.approx(code_l2_loss(c).item())
