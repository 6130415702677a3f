"""i2i_core.nets: layouts, keys and parameter counts of the networks of the CycleGAN and CUT reference
code (models/networks.py), and loading their released state dicts."""
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import n_params, on_meta
from i2i_core.nets import (
    Downsample,
    PatchGAN,
    ResnetGenerator,
    UnetGenerator,
    Upsample,
    from_reference_state_dict,
    init_weights,
    unet_depth_for,
)
from i2i_core.nets.blocks import ReplicationPad2d, padding_layers


def shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


# --- ResNet generator: keys and counts (CycleGAN and CUT reference, ResnetGenerator) ------------

def test_resnet9_cyclegan_keys_and_params():
    net = on_meta(ResnetGenerator)
    keys = shapes(net)
    assert n_params(net) == 11_378_179
    assert len(keys) == 48
    assert keys["model.1.weight"] == (64, 3, 7, 7)
    assert keys["model.4.weight"] == (128, 64, 3, 3)
    assert keys["model.7.weight"] == (256, 128, 3, 3)
    for k in range(10, 19):
        assert keys[f"model.{k}.conv_block.1.weight"] == (256, 256, 3, 3)
        assert keys[f"model.{k}.conv_block.5.bias"] == (256,)
    assert keys["model.19.weight"] == (256, 128, 3, 3)  # transposed conv: in × out
    assert keys["model.22.weight"] == (128, 64, 3, 3)
    assert keys["model.26.weight"] == (3, 64, 7, 7) and keys["model.26.bias"] == (3,)
    assert isinstance(net.model[27], nn.Tanh) and len(net.model) == 28


def test_resnet6_params_and_indices():
    net = on_meta(ResnetGenerator, n_blocks=6)
    keys = shapes(net)
    assert n_params(net) == 7_837_699
    assert "model.15.conv_block.5.weight" in keys and "model.16.weight" in keys
    assert keys["model.19.weight"] == (128, 64, 3, 3) and keys["model.23.weight"] == (3, 64, 7, 7)


def test_resnet_dropout_moves_second_block_conv():
    keys = shapes(on_meta(ResnetGenerator, dropout=True))
    assert "model.10.conv_block.6.weight" in keys and "model.10.conv_block.5.weight" not in keys


def test_cut_antialiased_layout_keys():
    net = on_meta(ResnetGenerator, antialias=True)
    keys = shapes(net)
    assert len(keys) == 52 and n_params(net) == 11_378_179
    assert keys["model.7.filt"] == (128, 1, 3, 3) and keys["model.11.filt"] == (256, 1, 3, 3)
    assert keys["model.21.filt"] == (256, 1, 4, 4) and keys["model.25.filt"] == (128, 1, 4, 4)
    assert keys["model.8.weight"] == (256, 128, 3, 3)
    assert keys["model.12.conv_block.1.weight"] == (256, 256, 3, 3) and "model.20.conv_block.5.bias" in keys
    assert keys["model.22.weight"] == (128, 256, 3, 3) and keys["model.26.weight"] == (64, 128, 3, 3)
    assert keys["model.30.weight"] == (3, 64, 7, 7)
    assert net.model[4].stride == (1, 1)
    # filt are buffers, not parameters, yet they are saved
    assert not any("filt" in name for name, _ in net.named_parameters())


def test_norm_bias_rule():
    batch = shapes(on_meta(ResnetGenerator, norm="batch"))
    assert "model.1.bias" not in batch and "model.2.running_mean" in batch and "model.26.bias" in batch
    none = shapes(on_meta(ResnetGenerator, norm="none"))
    assert "model.1.bias" not in none and "model.2.weight" not in none and "model.26.bias" in none
    with pytest.raises(ValueError, match="norm"):
        ResnetGenerator(norm="group")


def test_resnet_forward_shape_and_range():
    torch.manual_seed(0)
    for antialias in (False, True):
        out = ResnetGenerator(1, 3, ngf=8, n_blocks=2, antialias=antialias)(torch.randn(2, 1, 32, 32))
        assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    out = ResnetGenerator(ngf=8, n_blocks=1, n_downsampling=1)(torch.randn(1, 3, 20, 20))
    assert out.shape == (1, 3, 20, 20)


# --- Feature taps (CUT's nce_layers; the CUT reference's ResnetGenerator.forward) ---------------

def test_tap_indices_match_spec_tables():
    cut = ResnetGenerator(ngf=4, antialias=True).tap_indices()
    assert [cut[name] for name in ("padded_input", "down1_conv", "down2_conv", "res1", "res5")] == [0, 4, 8, 12, 16]
    cyclegan = ResnetGenerator(ngf=4).tap_indices()
    assert cyclegan["padded_input"] == 0 and cyclegan["down1_conv"] == 4 and cyclegan["down2_conv"] == 7
    assert cyclegan["res3"] == 12 and cyclegan["res7"] == 16
    assert set(cyclegan) == {"padded_input", "down1_conv", "down2_conv"} | {f"res{k}" for k in range(1, 10)}
    shallow = ResnetGenerator(ngf=4, n_blocks=3, n_downsampling=1).tap_indices()
    assert "down2_conv" not in shallow and shallow["res1"] == 7


@pytest.mark.parametrize("antialias, expected", [
    # the reference's tap shapes at 256² scaled to 64² (÷4), channels scaled to ngf 8 (÷8)
    (True, [(3, 70, 70), (16, 64, 64), (32, 32, 32), (32, 16, 16), (32, 16, 16)]),
    (False, [(3, 70, 70), (16, 32, 32), (32, 16, 16), (32, 16, 16), (32, 16, 16)]),
])
def test_encode_shapes(antialias, expected):
    net = ResnetGenerator(ngf=8, antialias=antialias)
    feats = net.encode(torch.randn(2, 3, 64, 64), [0, 4, 8, 12, 16])
    assert [tuple(f.shape[1:]) for f in feats] == expected
    assert all(f.shape[0] == 2 for f in feats)


def test_encode_stops_after_last_tap_and_returns_true_module_outputs():
    net = ResnetGenerator(ngf=4)
    ran_late = []
    net.model[17].register_forward_hook(lambda *args: ran_late.append(True))
    x = torch.randn(1, 3, 32, 32)
    padded, norm_out = net.encode(x, [0, 8])
    assert not ran_late
    assert torch.equal(padded, F.pad(x, (3, 3, 3, 3), mode="reflect"))
    assert (norm_out < 0).any()  # index 8 is the norm before the ReLU, not clipped by it
    assert net.encode(x, []) == []
    with pytest.raises(ValueError):
        net.encode(x, [4, 0])
    with pytest.raises(ValueError):
        net.encode(x, [0, len(net.model)])


def test_forward_with_taps_returns_the_translation_and_the_encode_maps():
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=2, antialias=True)
    x = torch.randn(2, 3, 32, 32)
    taps = [0, 4, 8, 12, 13]
    out, feats = net(x, taps=taps)
    assert torch.equal(out, net(x))
    assert all(torch.equal(a, b) for a, b in zip(feats, net.encode(x, taps), strict=True))
    with pytest.raises(ValueError):
        net(x, taps=[4, 0])


# --- Blur filters (the CUT reference's Downsample, Upsample, get_filter) ------------------------

@pytest.mark.parametrize("size", [7, 8, 31, 32])
def test_blur_shapes(size):
    x = torch.randn(2, 5, size, size)
    assert Downsample(5)(x).shape == (2, 5, math.ceil(size / 2), math.ceil(size / 2))
    assert Upsample(5)(x).shape == (2, 5, 2 * size, 2 * size)


def test_blur_filters_values_and_flat_field():
    down, up = Downsample(2), Upsample(2)
    assert torch.allclose(down.filt[0, 0], torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16.0)
    row = torch.tensor([1.0, 3, 3, 1])
    assert torch.allclose(up.filt[1, 0], torch.outer(row, row) / 64 * 4)
    assert "filt" in down.state_dict() and not list(down.parameters())
    flat = torch.full((1, 2, 9, 9), 0.7)
    assert torch.allclose(down(flat), torch.full((1, 2, 5, 5), 0.7))
    assert torch.allclose(up(flat), torch.full((1, 2, 18, 18), 0.7))


def test_upsample_pads_like_the_reference_bitwise():
    # Upsample pads the (N·C, H, W) planes, not the 4-D tensor: values and gradients stay bitwise.
    up = Upsample(3)
    x = torch.randn(2, 3, 6, 5, requires_grad=True)
    ref = x.detach().clone().requires_grad_()
    padded = F.pad(ref, (1, 1, 1, 1), mode="replicate")
    expected = F.conv_transpose2d(padded, up.filt, stride=2, padding=2, groups=3)[:, :, 1:-1, 1:-1]
    grad = torch.randn(2, 3, 12, 10)
    out = up(x)
    out.backward(grad)
    expected.backward(grad)
    assert torch.equal(out, expected) and torch.equal(x.grad, ref.grad)


def test_replication_pad_matches_torch_bitwise():
    # The padding that the ResNet blocks (padding="replicate") and MUNIT (pad_type replicate) use.
    from i2i_core.nets.munit import _padding

    for pad in (ReplicationPad2d(2), padding_layers("replicate", 2)[0], _padding("replicate", 2)):
        x = torch.randn(2, 3, 5, 4, requires_grad=True)
        ref = x.detach().clone().requires_grad_()
        grad = torch.randn(2, 3, 9, 8)
        out, expected = pad(x), nn.ReplicationPad2d(2)(ref)
        out.backward(grad)
        expected.backward(grad)
        assert torch.equal(out, expected) and torch.equal(x.grad, ref.grad)


def test_replicate_padding_compiles_forward_and_backward():
    # With convolutions in the graph inductor stores the saved pad input channels_last; on a 4-D
    # input the CPU kernel of replication_pad2d_backward then returns a channels_last gradient where
    # its meta kernel promises a contiguous one (assert_size_stride failed in
    # `i2i train cut --compile on`, from Upsample, and for nn.ReplicationPad2d between convs).
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 4, 3), ReplicationPad2d(1), nn.Conv2d(4, 4, 3), Upsample(4))
    x = torch.randn(2, 4, 7, 7, requires_grad=True)
    ref = x.detach().clone().requires_grad_()
    out = torch.compile(net)(x)
    out.sum().backward()
    expected = net(ref)
    expected.sum().backward()
    assert torch.allclose(out, expected, atol=1e-6) and torch.allclose(x.grad, ref.grad, atol=1e-5)


# --- PatchGAN (Isola et al. 2017, §3.2.2; the reference's NLayerDiscriminator) ------------------

def test_patchgan_keys_and_params():
    plain = on_meta(PatchGAN)
    assert n_params(plain) == 2_764_737
    assert set(shapes(plain)) == {f"model.{i}.{p}" for i in (0, 2, 5, 8, 11) for p in ("weight", "bias")}
    aa = shapes(on_meta(PatchGAN, antialias=True))
    assert set(aa) == {f"model.{i}.{p}" for i in (0, 3, 7, 11, 14) for p in ("weight", "bias")} | {
        "model.2.filt", "model.6.filt", "model.10.filt"}
    assert aa["model.2.filt"] == (64, 1, 3, 3) and aa["model.10.filt"] == (256, 1, 3, 3)


def test_pix2pix_batchnorm_discriminator():
    net = on_meta(PatchGAN, in_channels=6, norm="batch")
    keys = shapes(net)
    assert n_params(net) == 2_768_705
    assert keys["model.0.weight"] == (64, 6, 4, 4) and "model.0.bias" in keys
    assert "model.2.weight" in keys and "model.2.bias" not in keys
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    assert set(keys) == {"model.0.weight", "model.0.bias", "model.2.weight", "model.5.weight", "model.8.weight",
                         "model.11.weight", "model.11.bias"} | {f"model.{i}.{p}" for i in (3, 6, 9) for p in bn}


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size, side", [(256, 30), (64, 6), (32, 2)])
def test_patchgan_output_size(antialias, size, side):
    out = PatchGAN(ndf=4, antialias=antialias)(torch.randn(1, 3, size, size))
    assert out.shape == (1, 1, side, side)


@pytest.mark.parametrize("n_layers", [1, 2, 4, 5])
def test_patchgan_depths(n_layers):
    net = PatchGAN(ndf=4, n_layers=n_layers)
    widths = [m.out_channels for m in net.model if isinstance(m, nn.Conv2d)]
    assert widths == [4 * min(2**n, 8) for n in range(n_layers + 1)] + [1]
    assert net(torch.randn(1, 3, 128, 128)).shape[1] == 1


# --- U-Net (Isola et al. 2017, §3.2.1; the CycleGAN reference's UnetGenerator) ------------------

def test_unet256_keys_and_params():
    net = on_meta(UnetGenerator)
    keys = shapes(net)
    assert n_params(net) == 54_413_955 and len(keys) == 82
    assert keys["model.model.0.weight"] == (64, 3, 4, 4) and "model.model.0.bias" not in keys
    assert keys["model.model.1.model.1.weight"] == (128, 64, 4, 4)
    for stat in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        assert f"model.model.1.model.2.{stat}" in keys
    assert keys["model.model.3.weight"] == (128, 3, 4, 4) and keys["model.model.3.bias"] == (3,)
    assert n_params(on_meta(UnetGenerator, dropout=True)) == 54_413_955


def test_unet_depth_and_dropout():
    assert [unet_depth_for(s) for s in (256, 128, 32)] == [8, 7, 5]
    with pytest.raises(ValueError, match="power of two"):
        unet_depth_for(96)
    with pytest.raises(ValueError, match="num_downs >= 5"):
        UnetGenerator(num_downs=4)
    for depth in (5, 7, 8):
        net = UnetGenerator(num_downs=depth, ngf=2, dropout=True)
        assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == depth - 5
    net = UnetGenerator(num_downs=unet_depth_for(32), ngf=4).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_unet_skip_carries_activated_input():
    # The reference's in-place LeakyReLU puts LReLU(x) on the skip; released weights expect that.
    block = UnetGenerator(num_downs=5, ngf=2).eval().model.model[1]
    x = torch.randn(1, 2, 16, 16)
    assert torch.equal(block(x)[:, :2], F.leaky_relu(x, 0.2))


# --- init_weights (the CycleGAN and CUT reference's init_weights and norm layers) ---------------

def test_init_weights_statistics():
    torch.manual_seed(0)
    conv = init_weights(nn.Conv2d(128, 256, 3), "normal")
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert conv.weight.mean().abs() < 1e-3 and not conv.bias.any()
    xavier = init_weights(nn.Conv2d(128, 256, 3), "xavier", gain=0.02)
    expected = 0.02 * math.sqrt(2 / (128 * 9 + 256 * 9))
    assert xavier.weight.std().item() == pytest.approx(expected, rel=0.02)
    kaiming = init_weights(nn.Conv2d(128, 256, 3), "kaiming", gain=123.0)  # gain ignored
    assert kaiming.weight.std().item() == pytest.approx(math.sqrt(2 / (128 * 9)), rel=0.02)
    ortho = init_weights(nn.Linear(64, 128), "orthogonal", gain=0.02).weight
    assert torch.allclose(ortho.T @ ortho, 0.02**2 * torch.eye(64), atol=1e-6)
    transposed = init_weights(nn.ConvTranspose2d(256, 128, 3), "normal")
    assert transposed.weight.std().item() == pytest.approx(0.02, rel=0.02)


def test_init_weights_norms_and_buffers():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(8192)
    bn.running_mean.fill_(3.0)
    init_weights(bn)
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=1e-3)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert not bn.bias.any() and (bn.running_mean == 3.0).all()
    net = ResnetGenerator(ngf=4, n_blocks=1, antialias=True)
    filt_before = net.model[7].filt.clone()
    assert init_weights(net, "xavier") is net
    assert torch.equal(net.model[7].filt, filt_before)
    with pytest.raises(ValueError, match="init kind"):
        init_weights(net, "uniform")


# --- from_reference_state_dict (legacy InstanceNorm keys dropped, as CycleGAN's load_networks) ---

def randomised(net: nn.Module) -> nn.Module:
    """Random weights and running stats, so a wrong load cannot give equal outputs by chance."""
    torch.manual_seed(1)
    init_weights(net, "normal", gain=0.2)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.normal_()
    return net.eval()


def with_legacy_instance_norm_stats(net: nn.Module, state: dict) -> dict:
    state = dict(state)
    for name, module in net.named_modules():
        if isinstance(module, nn.InstanceNorm2d):
            state[f"{name}.running_mean"] = torch.zeros(module.num_features)
            state[f"{name}.running_var"] = torch.ones(module.num_features)
            state[f"{name}.num_batches_tracked"] = torch.tensor(0)
    return state


def check_round_trip(net: nn.Module, x: torch.Tensor, prefix: str = "", legacy: bool = False,
                     same_repr: bool = True) -> nn.Module:
    net = randomised(net)
    state = net.state_dict()
    if legacy:
        state = with_legacy_instance_norm_stats(net, state)
    loaded = from_reference_state_dict({prefix + key: value for key, value in state.items()})
    assert type(loaded) is type(net) and not loaded.training
    assert list(loaded.state_dict()) == list(net.state_dict())
    if same_repr:
        assert repr(loaded) == repr(net)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    return loaded


RESNET_VARIANTS = {
    "cyclegan9": dict(),
    "cyclegan6": dict(n_blocks=6),
    "cut": dict(antialias=True),
    "antialias_down_only": dict(antialias=True, antialias_up=False),
    "antialias_up_only": dict(antialias_up=True),
    "dropout": dict(dropout=True),
    "dropout_cut": dict(dropout=True, antialias=True),
    "batch": dict(norm="batch"),
    "no_norm": dict(norm="none"),
    "gray_in": dict(in_channels=1),
    "gray_out": dict(out_channels=1),
    "one_downsampling": dict(n_downsampling=1, n_blocks=3),
    "zero_padding": dict(padding="zero"),
    "zero_padding_dropout": dict(padding="zero", dropout=True),
    "ngf16": dict(ngf=16, n_blocks=2),
}


@pytest.mark.parametrize("variant", sorted(RESNET_VARIANTS))
def test_round_trip_resnet(variant):
    kwargs = dict(ngf=4) | RESNET_VARIANTS[variant]
    net = ResnetGenerator(**kwargs)
    check_round_trip(net, torch.randn(1, net.model[1].in_channels, 24, 24))


def test_round_trip_full_size_cut_with_module_prefix_and_legacy_keys():
    check_round_trip(ResnetGenerator(antialias=True), torch.randn(1, 3, 16, 16), prefix="module.", legacy=True)


def test_round_trip_legacy_instance_norm_cyclegan():
    check_round_trip(ResnetGenerator(ngf=4, n_blocks=6), torch.randn(1, 3, 16, 16), legacy=True)


def test_round_trip_through_torch_save():
    net = randomised(ResnetGenerator(ngf=4, n_blocks=2))
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert hasattr(state, "_metadata")
    loaded = from_reference_state_dict(state)
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(loaded(x), net(x))


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("num_downs, size", [(7, 128), (8, 256)])
def test_round_trip_unet(norm, num_downs, size):
    net = UnetGenerator(num_downs=num_downs, ngf=2, norm=norm)
    check_round_trip(net, torch.randn(1, 3, size, size), legacy=norm == "instance")


def test_round_trip_unet_dropout_gray():
    # Dropout leaves no key: the loaded copy has none, which changes nothing in eval mode.
    net = UnetGenerator(in_channels=1, out_channels=1, num_downs=7, ngf=2, dropout=True)
    loaded = check_round_trip(net, torch.randn(1, 1, 128, 128), prefix="module.", same_repr=False)
    assert not any(isinstance(m, nn.Dropout) for m in loaded.modules())


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("n_layers", [1, 2, 3, 4, 5])
def test_round_trip_patchgan(n_layers, norm, antialias):
    net = PatchGAN(in_channels=6 if norm == "batch" else 3, ndf=4, n_layers=n_layers, norm=norm, antialias=antialias)
    check_round_trip(net, torch.randn(1, net.model[0].in_channels, 128, 128), legacy=n_layers == 3)


def test_garbage_raises_one_line_value_error():
    with pytest.raises(ValueError) as info:
        from_reference_state_dict({"encoder.weight": torch.zeros(3, 3), "head.bias": torch.zeros(3)})
    message = str(info.value)
    assert "\n" not in message and "encoder.weight" in message
    for kind in ("ResNet", "U-Net", "PatchGAN"):
        assert kind in message
    with pytest.raises(ValueError, match="no reference network"):
        from_reference_state_dict({})
    with pytest.raises(ValueError, match="not named tensors"):
        from_reference_state_dict({"model.0.weight": [1, 2, 3]})
    with pytest.raises(ValueError, match="state dict"):
        from_reference_state_dict(torch.zeros(3))


def test_truncated_file_names_the_missing_key():
    state = ResnetGenerator(ngf=4, antialias=True).state_dict()
    del state["model.21.filt"]
    with pytest.raises(ValueError, match="model.21"):
        from_reference_state_dict(state)
