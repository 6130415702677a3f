"""DivCo (Liu et al. 2021; the DivCo reference code): the sampler's radius rule, the InfoNCE term, and
where its gradient goes."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core.cli import main
from i2i_core.errors import PluginError
from i2i_core.recipe import BuildOptions, Recipe, build_recipe
from i2i_plugins.divco import DivCo, divco_loss, latent_augmented_sampling
from i2i_plugins.testing import example_step


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), nz=st.integers(1, 8), K=st.integers(1, 12), R=st.sampled_from([1e-3, 0.01, 0.1, 0.3]),
       seed=st.integers(0, 2**31))
def test_divco_property_sampler_keeps_positives_in_the_box_and_negatives_out_of_it(n, nz, K, R, seed):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(n, nz, generator=generator)
    codes = latent_augmented_sampling(query, K, R, generator)
    assert codes.shape == ((K + 2) * n, nz)
    groups = codes.view(K + 2, n, nz)  # sample i's codes are rows i, i + n, i + 2n, …
    assert torch.equal(groups[0], query)
    assert (groups[1] - query).abs().max() <= R  # a box: each coordinate within R
    assert ((groups[2:] - query).abs() >= R).all()  # every coordinate of every sample at least R away


def test_divco_sampler_redraws_near_negatives_and_is_seeded():
    query = torch.zeros(1, 1)
    # R = 1 rejects about 68 % of standard-normal draws, so most negatives need several draws
    codes = latent_augmented_sampling(query, 50, 1.0, torch.Generator().manual_seed(0))
    assert (codes[2:].abs() >= 1.0).all()
    again = latent_augmented_sampling(query, 50, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(codes, again)


def slow_infonce(f_query, f_positive, f_negatives, temperature):
    """Σ_i −log softmax(logits_i)[0], one sample at a time in float64."""
    total = 0.0
    for i in range(f_query.shape[0]):
        logits = [float(f_query[i] @ f_positive[i]) / temperature]
        logits += [float(f_query[i] @ f_negatives[k, i]) / temperature for k in range(f_negatives.shape[0])]
        top = max(logits)
        total += -(logits[0] - top - math.log(sum(math.exp(x - top) for x in logits)))
    return total


@st.composite
def features(draw):
    n, d, K = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    values = st.floats(-2, 2, width=64)
    q, p = (draw(arrays(np.float64, (n, d), elements=values)) for _ in range(2))
    negatives = draw(arrays(np.float64, (K, n, d), elements=values))
    return torch.from_numpy(q), torch.from_numpy(p), torch.from_numpy(negatives)


@settings(max_examples=50, deadline=None)
@given(f=features(), temperature=st.floats(0.1, 2.0))
def test_divco_property_matches_the_slow_infonce_summed_over_the_batch(f, temperature):
    got = divco_loss(*f, temperature).item()
    assert got == pytest.approx(slow_infonce(*f, temperature), rel=1e-6, abs=1e-9)
    assert got >= 0


@settings(max_examples=30, deadline=None)
@given(f=features())
def test_divco_property_equal_similarities_give_log_of_k_plus_one_per_sample(f):
    q, _, negatives = f
    same = q.clone()
    # the query against itself everywhere: every logit is equal
    loss = divco_loss(q, same, same.expand(negatives.shape[0], -1, -1), 1.0).item()
    assert loss == pytest.approx(q.shape[0] * math.log(negatives.shape[0] + 1), rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(f=features(), temperature=st.floats(0.1, 2.0))
def test_divco_property_temperature_divides_the_logits(f, temperature):
    q, p, negatives = f
    assert divco_loss(q, p, negatives, temperature).item() == pytest.approx(
        divco_loss(q / temperature, p, negatives, 1.0).item(), rel=1e-9, abs=1e-12)


def test_divco_rewards_a_close_positive_and_distant_negatives():
    q = torch.tensor([[1.0, 0.0]])
    aligned = divco_loss(q, torch.tensor([[5.0, 0.0]]), torch.tensor([[[-5.0, 0.0]]]), 1.0)
    reversed_ = divco_loss(q, torch.tensor([[-5.0, 0.0]]), torch.tensor([[[5.0, 0.0]]]), 1.0)
    assert aligned.item() < 1e-3 < 9.0 < reversed_.item()


def test_divco_trains_the_generator_and_not_the_feature_encoder():
    plugin = DivCo()
    step = example_step(plugin)
    value = plugin.loss(step, "G")
    generator, encoder = step.net("G"), step.net("E")
    grads = torch.autograd.grad(value, [*generator.parameters(), *encoder.parameters()], allow_unused=True)
    for_generator, for_encoder = grads[:2], grads[2:]
    assert all(g is not None and g.abs().sum() > 0 for g in for_generator)
    assert all(g is None for g in for_encoder)
    assert all(p.requires_grad for p in encoder.parameters())  # unfrozen again after the features
    # the plugin's own encoder freeze is what keeps E out: the same features with E trainable reach it
    images = generator(step.real_A, torch.randn(2, 4))
    assert torch.autograd.grad(encoder(images)[0].sum(), encoder.mu.weight)[0].abs().sum() > 0


def test_divco_log_only_is_the_reference_behaviour():
    plugin = DivCo(log_only=True)
    value = plugin.loss(example_step(plugin), "G")
    assert torch.isfinite(value) and not value.requires_grad


def test_divco_needs_a_recipe_that_samples_and_encodes_codes():
    with pytest.raises(PluginError, match="plugin 'divco' needs a recipe that samples a latent code"):
        DivCo().check(Recipe(name="cyclegan", translators={"AtoB": "G_AB"}))
    with pytest.raises(PluginError, match="'pix2pix' has none"):
        build_recipe("pix2pix", BuildOptions(image_size=32, preset="tiny"), adds=["divco"])


def test_cyclegan_with_divco_exits_2_naming_the_plugin_and_the_code(tmp_path, capsys):
    code = main(["train", "cyclegan", "--data", "demo", "--out", str(tmp_path), "--add", "divco", "--steps", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "'divco'" in err and "latent code" in err and "cyclegan" in err
    assert not (tmp_path / "checkpoints").exists()
