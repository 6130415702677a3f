"""PatchNCE: the loss against a loop-based reading of the reference, closed forms, gradient paths,
patch sampling, flip-back, and the plugin dropped into recipes that did not plan for it."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import tiny_build
from i2i_core.cli import main
from i2i_core.errors import PluginError
from i2i_core.nets import ResnetGenerator
from i2i_core.recipe import build_recipe
from i2i_core.step import Step
from i2i_core.training import Trainer, TrainOptions
from i2i_plugins.patchnce import PatchNCE, PatchSampler, patch_nce_loss, resolve_taps


def unit(*shape, seed=0):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def slow_patch_nce(query, key, temperature, negatives_from_minibatch):
    """The reference read literally: one query at a time, its group's keys, −10 on its own key."""
    b, p, _ = query.shape
    out = torch.zeros(b, p, dtype=torch.float64)
    for image in range(b):
        for i in range(p):
            q = query[image, i].double()
            group = key.reshape(-1, key.shape[-1]) if negatives_from_minibatch else key[image]
            own = image * p + i if negatives_from_minibatch else i
            logits = [float(q @ key[image, i].double())]
            for j in range(group.shape[0]):
                logits.append(-10.0 if j == own else float(q @ group[j].double()))
            logits = [value / temperature for value in logits]
            top = max(logits)
            out[image, i] = top + math.log(sum(math.exp(value - top) for value in logits)) - logits[0]
    return out


shapes = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 8))


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 2**16), st.floats(0.05, 2.0), st.booleans())
def test_patchnce_property_matches_the_loop_formula(shape, seed, temperature, minibatch):
    query, key = unit(*shape, seed=seed), unit(*shape, seed=seed + 1)
    fast = patch_nce_loss(query, key, temperature, minibatch)
    assert fast.shape == shape[:2]
    torch.testing.assert_close(fast.double(), slow_patch_nce(query, key, temperature, minibatch), rtol=1e-4, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**16), st.booleans())
def test_patchnce_property_terms_are_nonnegative_and_follow_their_patch(shape, seed, minibatch):
    query, key = unit(*shape, seed=seed).float(), unit(*shape, seed=seed + 1).float()
    loss = patch_nce_loss(query, key, 0.07, minibatch)
    assert torch.all(loss >= 0) and torch.isfinite(loss).all()
    order = torch.randperm(shape[1], generator=torch.Generator().manual_seed(seed))
    permuted = patch_nce_loss(query[:, order], key[:, order], 0.07, minibatch)
    torch.testing.assert_close(permuted, loss[:, order])


@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_a_query_equal_to_its_key_among_orthogonal_negatives(n):
    # q_i = k_i = e_i: logits [1, −10 (own), 0 × (n−1)] / τ, so ℓ = log(1 + e^{−11/τ} + (n−1)e^{−1/τ}).
    tau = 0.07
    eye = torch.eye(n, dtype=torch.float64).unsqueeze(0)
    expected = math.log(1 + math.exp(-11 / tau) + (n - 1) * math.exp(-1 / tau))
    torch.testing.assert_close(patch_nce_loss(eye, eye, tau), torch.full((1, n), expected, dtype=torch.float64))


def test_single_patches_against_the_masked_diagonal():
    # q = −k, one patch, τ = 1: logits [−1, −10] → ℓ = log(e^−1 + e^−10) + 1 = log(1 + e^−9)
    q = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    loss = patch_nce_loss(q, -q, 1.0)
    torch.testing.assert_close(loss, torch.tensor([[math.log(1 + math.exp(-9.0))]], dtype=torch.float64))
    # two images, negatives from the minibatch, keys swapped: logits [0, −10 (own), 1] for both
    q2 = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=torch.float64)
    k2 = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]], dtype=torch.float64)
    loss = patch_nce_loss(q2, k2, 1.0, negatives_from_minibatch=True)
    expected = math.log(1 + math.exp(-10) + math.exp(1))
    torch.testing.assert_close(loss, torch.full((2, 1), expected, dtype=torch.float64))


def test_the_group_count_comes_from_the_tensor():
    query, key = unit(4, 3, 5), unit(4, 3, 5, seed=1)
    whole = patch_nce_loss(query, key)
    halves = torch.cat([patch_nce_loss(query[:2], key[:2]), patch_nce_loss(query[2:], key[2:])])
    torch.testing.assert_close(whole, halves)


def test_gradient_reaches_the_query_never_the_key():
    query = unit(2, 4, 6).requires_grad_()
    key = unit(2, 4, 6, seed=3).requires_grad_()
    patch_nce_loss(query, key).sum().backward()
    assert query.grad is not None and query.grad.abs().sum() > 0
    assert key.grad is None


def plugin_on(generator, **fields):
    plugin = PatchNCE(pairs=[("G", "real_A", "fake_B")], identity=False, **fields)
    torch.manual_seed(0)
    real_A = torch.randn(2, 3, 16, 16)
    step = Step({"real_A": real_A, "fake_B": real_A.flip(-1).requires_grad_(), "flipped": torch.tensor(True)},
                {"G": generator}, {})
    plugin.materialize(step)
    return plugin, step


def test_query_and_key_are_sampled_at_the_same_locations():
    generator = ResnetGenerator(ngf=4, n_blocks=1, antialias=True)
    plugin, _ = plugin_on(generator, num_patches=7)
    x = torch.randn(2, 3, 16, 16)
    step = Step({"real_A": x, "fake_B": x.clone()}, {"G": generator}, {})
    for query, key in plugin.features(step, "G", "real_A", "fake_B"):
        assert query.shape == key.shape and query.shape[:2] == (2, 7)
        torch.testing.assert_close(query, key)  # same image in, same locations → same vectors
        norms = query.norm(dim=-1)  # v / (‖v‖ + 1e-7): just under 1, as the freshly initialised head's ‖v‖ is small
        assert torch.all(norms < 1) and torch.all(norms > 0.99)


def test_patch_ids_come_from_torchs_generator_and_differ_per_layer():
    feature = torch.zeros(1, 1, 8, 8)
    torch.manual_seed(3)
    first, second = PatchSampler.draw_ids(feature, 16), PatchSampler.draw_ids(feature, 16)
    torch.manual_seed(3)
    assert torch.equal(PatchSampler.draw_ids(feature, 16), first) and not torch.equal(first, second)
    assert len(set(first.tolist())) == 16 and PatchSampler.draw_ids(feature, 1000).numel() == 64


def test_flipped_query_maps_are_mirrored_back():
    # The padded input tap is mirror-symmetric: G_enc(flip(x)) = flip(G_enc(x)) exactly, so the query
    # of fake_B = flip(real_A) matches its key only once it is flipped back.
    generator = ResnetGenerator(ngf=4, n_blocks=1, antialias=True)
    plugin, step = plugin_on(generator, layers=("padded_input",), num_patches=20, flip_equivariance=True)
    (query, key), = plugin.features(step, "G", "real_A", "fake_B", flipped=True)
    torch.testing.assert_close(query, key)
    (query, key), = plugin.features(step, "G", "real_A", "fake_B", flipped=False)
    assert (query - key).abs().max() > 0.1
    assert "flipped" in plugin.reads()


def test_flip_back_lowers_the_loss_of_a_mirrored_output():
    generator = ResnetGenerator(ngf=4, n_blocks=1, antialias=True)
    plugin, step = plugin_on(generator, layers=("padded_input", "down1_conv"), num_patches=30, flip_equivariance=True)
    flipped_back = plugin.loss(step, "G")
    plugin.flip_equivariance = False
    assert flipped_back < plugin.loss(step, "G")


def test_heads_match_the_reference_layout():
    generator = ResnetGenerator(ngf=64, n_blocks=9, antialias=True)
    plugin = PatchNCE(pairs=[("G", "real_A", "fake_B")])
    plugin.materialize(Step({"real_A": torch.zeros(1, 3, 32, 32)}, {"G": generator}, {}))
    sampler = plugin.modules()["G"]
    shapes = {k: tuple(t.shape) for k, t in sampler.state_dict().items()}
    assert len(shapes) == 20 and shapes["mlp_0.0.weight"] == (256, 3) and shapes["mlp_4.2.weight"] == (256, 256)
    assert sum(t.numel() for t in sampler.parameters()) == 560_384  # PatchSampleF's count in the CUT reference code
    assert plugin._taps["G"] == [0, 4, 8, 12, 16]  # CUT's default nce_layers, the reference's indices
    weight = sampler.mlp_1[0].weight  # xavier-normal, gain 0.02: std 0.02·√(2/(128+256))
    assert abs(weight.std().item() - 0.02 * math.sqrt(2 / 384)) < 2e-4 and sampler.mlp_1[0].bias.abs().sum() == 0


def test_tap_names_resolve_per_layout():
    cyclegan_layout = ResnetGenerator(ngf=8, n_blocks=2).tap_indices()
    assert resolve_taps(cyclegan_layout, ("padded_input", "down1_conv", "res1", "res5"), "G") == [0, 4, 10, 11]
    assert resolve_taps(ResnetGenerator(ngf=8, n_blocks=1).tap_indices(), ("res1", "res5"), "G") == [10]
    with pytest.raises(PluginError, match="no feature tap 'up1'"):
        resolve_taps(cyclegan_layout, ("up1",), "G")


def test_drop_in_on_cyclegan_covers_both_generators_and_logs(tmp_path):
    recipe = build_recipe("cyclegan", tiny_build(), sets={"data.batch_size": 2}, adds=["patchnce:num_patches=16"])
    plugin = recipe.plugins["patchnce"]
    assert plugin.pairs == (("G_AB", "real_A", "fake_B"), ("G_BA", "real_B", "fake_A"))
    assert plugin.identity_pairs == (("G_AB", "real_B", "idt_B"), ("G_BA", "real_A", "idt_A"))
    assert "F" in recipe.phase("G").optimizers
    trainer = Trainer(recipe, TrainOptions(data="demo", out=tmp_path, steps=2, log_every=1, sample_every=100), tiny_build())
    assert set(plugin.modules()) == {"G_AB", "G_BA"}
    before = [p.clone() for p in plugin.modules()["G_BA"].parameters()]
    trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(row["patchnce"]) and row["patchnce"] > 0 for row in rows)
    assert any(not torch.equal(a, b) for a, b in zip(before, plugin.modules()["G_BA"].parameters()))


def test_cli_drop_in_on_cyclegan(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "cyclegan", "--data", "demo", "--out", str(out), "--steps", "1", "--batch-size", "2",
                 "--add", "patchnce:num_patches=8,head_width=16"]) == 0
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["patchnce"] > 0


def test_pix2pix_refuses_patchnce_at_build_time(tmp_path, capsys):
    assert main(["train", "pix2pix", "--data", "demo", "--out", str(tmp_path / "x"), "--add", "patchnce"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "patchnce" in err and "feature taps" in err and "'G'" in err
    assert not (tmp_path / "x").exists()


def test_flip_equivariance_needs_a_recipe_that_flips():
    with pytest.raises(PluginError, match="'flipped'"):
        build_recipe("cyclegan", tiny_build(), adds=["patchnce:flip_equivariance=true"])


def test_a_layer_name_that_exists_nowhere_is_named(tmp_path):
    recipe = build_recipe("cyclegan", tiny_build(), sets={"data.batch_size": 2}, adds=["patchnce:layers=conv9"])
    with pytest.raises(PluginError, match="no feature tap 'conv9'"):
        Trainer(recipe, TrainOptions(data="demo", out=tmp_path, steps=1), tiny_build())


def test_the_example_drops_patchnce_into_cyclegan(tmp_path):
    script = Path(__file__).resolve().parents[2] / "examples" / "patchnce_in_cyclegan.py"
    result = subprocess.run([sys.executable, str(script), "--steps", "2", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(result.stdout.splitlines()[-1])
    assert row["step"] == 2 and row["patchnce"] > 0 and row["cycle"] > 0


def test_a_generator_without_feature_taps_is_refused_with_the_protocol(monkeypatch):
    """check() holds the registered class (or a factory's return annotation) against FeatureTaps."""
    from i2i_core import plugins as registry
    from i2i_core.nets import UnetGenerator
    from i2i_core.recipe import NetSpec, Recipe

    with pytest.raises(PluginError, match=r"plugin 'patchnce' needs network 'G' to implement FeatureTaps "
                                          r"\(encode\(x, layers\), tap_indices\(\)\), but network kind 'unet' "
                                          r"\(UnetGenerator\) lacks encode"):
        build_recipe("cut", tiny_build(), sets={"nets.G.kind": "unet"})

    def annotated_unet(**kwargs) -> UnetGenerator:
        return UnetGenerator(**kwargs)

    def annotated_resnet(**kwargs) -> ResnetGenerator:
        return ResnetGenerator(**kwargs)

    def unannotated(**kwargs):
        return UnetGenerator(**kwargs)

    table = dict(registry.networks(), annotated_unet=annotated_unet, annotated_resnet=annotated_resnet,
                 unannotated=unannotated)
    monkeypatch.setattr(registry, "networks", lambda: table)
    plugin = PatchNCE(pairs=[["G", "real_A", "fake_B"]], identity=False)
    with pytest.raises(PluginError, match="to implement FeatureTaps .* 'annotated_unet' \\(UnetGenerator\\)"):
        plugin.check(Recipe(name="host", nets={"G": NetSpec(kind="annotated_unet")}))
    plugin.check(Recipe(name="host", nets={"G": NetSpec(kind="annotated_resnet")}))
    plugin.check(Recipe(name="host", nets={"G": NetSpec(kind="unannotated")}))  # cannot tell: not checked
