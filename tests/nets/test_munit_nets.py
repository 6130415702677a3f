"""MUNIT's networks (Huang et al. 2018) against the MUNIT reference code, networks.py: parameter counts
and state-dict keys, shapes, discriminator depth, AdaIN, layer norm and initialisation."""
import math

import pytest
import torch
import torch.nn.functional as F

from helpers import n_params, on_meta
from i2i_core.interfaces import ContentStyleModel
from i2i_core.nets import init_weights
from i2i_core.nets.munit import (AdaINGen, AdaptiveInstanceNorm2d, MsImageDis, MunitLayerNorm,
                                 discriminator_layers_for)
from i2i_core.recipe import BuildOptions, build_recipe


def test_generator_parameter_counts_and_state_dict_at_the_reference_defaults():
    g = on_meta(AdaINGen)
    assert n_params(g) == 15_026_187
    assert (n_params(g.enc_style), n_params(g.enc_content), n_params(g.dec), n_params(g.mlp)) == (
        2_764_936, 5_385_856, 5_754_627, 1_120_768)
    keys = g.state_dict()
    assert len(keys) == 82 and sum(k.endswith(("running_mean", "running_var")) for k in keys) == 16
    shapes = {k: tuple(v.shape) for k, v in keys.items()}
    assert shapes["enc_content.model.0.conv.weight"] == (64, 3, 7, 7)
    assert shapes["enc_content.model.2.conv.weight"] == (256, 128, 4, 4)
    assert shapes["enc_content.model.3.model.3.model.1.conv.weight"] == (256, 256, 3, 3)
    assert shapes["enc_style.model.4.conv.weight"] == (256, 256, 4, 4)
    assert shapes["enc_style.model.6.weight"] == (8, 256, 1, 1)
    assert shapes["dec.model.0.model.3.model.1.norm.running_var"] == (256,)
    assert shapes["dec.model.2.conv.weight"] == (128, 256, 5, 5) and shapes["dec.model.2.norm.gamma"] == (128,)
    assert shapes["dec.model.4.norm.beta"] == (64,)
    assert shapes["dec.model.5.conv.weight"] == (3, 64, 7, 7)
    assert shapes["mlp.model.0.fc.weight"] == (256, 8) and shapes["mlp.model.2.fc.weight"] == (4096, 256)
    assert {k.split(".")[0] for k in keys} == {"enc_style", "enc_content", "dec", "mlp"}


def test_generator_shapes_at_256_and_32():
    # dim 8 instead of 64: only the widths change (content has 4·dim channels)
    for size, content_side in ((256, 64), (32, 8)):
        g = AdaINGen(dim=8, n_res=1, mlp_dim=16)
        assert isinstance(g, ContentStyleModel)
        x = torch.zeros(2, 3, size, size)
        content, style = g.encode_content(x), g.encode_style(x)
        assert content.shape == (2, 32, content_side, content_side) and style.shape == (2, 8)
        assert g.decode(content, style).shape == x.shape
        assert g.enc_style.model[:5](x).shape[-1] == size // 16  # 2×2 before the global pool at 32²


def test_discriminator_counts_keys_and_multiscale_outputs():
    d = on_meta(MsImageDis)
    assert n_params(d) == 8_271_171 and all(n_params(cnn) == 2_757_057 for cnn in d.cnns)
    shapes = {k: tuple(v.shape) for k, v in d.state_dict().items()}
    assert shapes["cnns.2.3.conv.weight"] == (512, 256, 4, 4) and shapes["cnns.0.4.weight"] == (1, 512, 1, 1)
    narrow = MsImageDis(dim=2)  # the widths do not change the map sizes
    for size, sides in ((256, (16, 8, 4)), (512, (32, 16, 8))):
        assert [tuple(o.shape) for o in narrow(torch.zeros(1, 3, size, size))] == [(1, 1, s, s) for s in sides]


def test_discriminator_depth_adapts_to_the_image_size():
    assert [discriminator_layers_for(s) for s in (32, 64, 128, 256, 512)] == [3, 4, 4, 4, 4]
    for size in (32, 64, 128, 256, 512):
        recipe = build_recipe("munit", BuildOptions(image_size=size))
        d = MsImageDis(**{**recipe.nets["D_A"].kwargs, "dim": 2})
        sides = [o.shape[-1] for o in d(torch.zeros(1, 3, size, size))]
        assert len(sides) == 3 and min(sides) >= 1
    with pytest.raises(ValueError, match="at least 64 px"):
        MsImageDis(dim=4)(torch.zeros(1, 3, 32, 32))


def test_adain_normalises_each_sample_and_channel_then_applies_the_given_beta_and_gamma():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 6) * 3 + 2
    beta, gamma = torch.randn(3, 4), torch.randn(3, 4)
    layer = AdaptiveInstanceNorm2d(4)
    layer.style_params = (beta, gamma)
    mean = x.mean((2, 3), keepdim=True)
    var = x.var((2, 3), unbiased=False, keepdim=True)
    want = gamma[:, :, None, None] * (x - mean) / torch.sqrt(var + 1e-5) + beta[:, :, None, None]
    assert torch.allclose(layer(x), want, atol=1e-5)
    # the reference's formulation: training-mode batch norm on the input reshaped to (1, B·C, H, W)
    reference = F.batch_norm(x.reshape(1, 12, 5, 6), None, None, gamma.reshape(12), beta.reshape(12), True, 0.1, 1e-5)
    assert torch.allclose(layer(x), reference.view_as(x), atol=1e-5)


def test_decode_hands_each_adain_layer_its_mean_then_std_slice_in_registration_order():
    torch.manual_seed(0)
    g = AdaINGen(dim=4, n_res=2, mlp_dim=8)
    seen = []
    layers = g.dec.adain_layers()
    for layer in layers:
        layer.register_forward_pre_hook(lambda m, _: seen.append(m.style_params))
    style = torch.randn(2, 8)
    g.decode(torch.randn(2, 16, 4, 4), style)
    params = g.mlp(style)
    assert params.shape[1] == sum(2 * layer.channels for layer in layers) == 4 * 2 * 16
    for k, (beta, gamma) in enumerate(seen):
        assert torch.equal(beta, params[:, 32 * k:32 * k + 16]) and torch.equal(gamma, params[:, 32 * k + 16:32 * k + 32])
    assert all(layer.style_params is None for layer in layers)  # no graph is kept between calls


def test_munit_layer_norm_uses_the_unbiased_std_with_eps_outside_the_root():
    torch.manual_seed(0)
    layer = MunitLayerNorm(3)
    with torch.no_grad():
        layer.beta.normal_()
    x = torch.randn(2, 3, 4, 5) * 2 + 1
    flat = x.double().flatten(1)
    mean = flat.mean(1).view(2, 1, 1, 1)
    std = torch.sqrt(((flat - flat.mean(1, keepdim=True)) ** 2).sum(1) / (flat.shape[1] - 1)).view(2, 1, 1, 1)
    want = (x.double() - mean) / (std + 1e-5) * layer.gamma.double().view(1, 3, 1, 1) + layer.beta.double().view(1, 3, 1, 1)
    assert torch.allclose(layer(x).double(), want, atol=1e-5)
    assert not torch.allclose(layer(x), F.layer_norm(x, x.shape[1:]) * layer.gamma.view(1, 3, 1, 1)
                              + layer.beta.view(1, 3, 1, 1), atol=1e-3)


def test_initialisation_kaiming_generators_gaussian_discriminators_layer_norm_gamma_kept():
    recipe = build_recipe("munit", BuildOptions(image_size=32), sets={"nets.G_A.n_res": 1})
    torch.manual_seed(0)
    g = recipe.nets["G_A"].build()
    d = recipe.nets["D_A"].build()
    conv = g.enc_content.model[3].model[0].model[0].conv  # 256·3·3 fan-in
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.05)
    assert g.mlp.model[1].fc.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.05)
    assert all(m.bias.abs().sum() == 0 for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    assert d.cnns[0][2].conv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    gammas = [m.gamma for m in g.modules() if isinstance(m, MunitLayerNorm)]
    assert gammas and all(0 <= x.min() and x.max() < 1 and x.std() > 0.1 for x in gammas)
    before = [x.clone() for x in gammas]
    init_weights(g, "kaiming")
    assert all(torch.equal(a, b) for a, b in zip(before, gammas))
