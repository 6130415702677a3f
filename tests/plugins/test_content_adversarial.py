"""The content_adversarial plugin: DRIT's content discriminator and the encoders' term against it."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core.recipe import OptimizerSpec, Phase, Recipe
from i2i_core.step import Step
from i2i_plugins.content_adversarial import (LN2, ContentAdversarial, content_adversarial_loss,
                                             content_discriminator_loss)

logits = arrays(np.float32, st.integers(1, 6), elements=st.floats(-20, 20, width=32))


def reference_bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """The reference's form: torch BCE on σ(logits), log clamped at −100."""
    p = torch.sigmoid(logits.double())
    return F.binary_cross_entropy(p, torch.full_like(p, target))


@settings(max_examples=60, deadline=None)
@given(a=logits, b=logits)
def test_content_adversarial_property_encoder_term_is_at_least_ln2_per_term(a, b):
    la, lb = torch.from_numpy(a), torch.from_numpy(b)
    value = content_adversarial_loss(la, lb).item()
    assert value >= 2 * LN2 - 1e-6
    # each term is ½·softplus(d) + ½·softplus(−d), ln 2 exactly at d = 0
    slow = sum(float(np.mean([0.5 * abs(x) + math.log1p(math.exp(-abs(x))) for x in v.astype(np.float64)]))
               for v in (a, b))
    assert value == pytest.approx(slow, rel=1e-5, abs=1e-5)
    assert content_adversarial_loss(torch.zeros_like(la), torch.zeros_like(lb)).item() == pytest.approx(2 * LN2)


@settings(max_examples=60, deadline=None)
@given(a=logits, b=logits)
def test_content_adversarial_property_terms_equal_the_reference_bce(a, b):
    la, lb = torch.from_numpy(a), torch.from_numpy(b)
    d_want = reference_bce(la, 0.0) + reference_bce(lb, 1.0)
    g_want = reference_bce(la, 0.5) + reference_bce(lb, 0.5)
    assert content_discriminator_loss(la, lb).item() == pytest.approx(d_want.item(), rel=1e-4, abs=1e-5)
    assert content_adversarial_loss(la, lb).item() == pytest.approx(g_want.item(), rel=1e-4, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(a=logits, b=logits)
def test_content_adversarial_property_symmetry(a, b):
    la, lb = torch.from_numpy(a), torch.from_numpy(b)
    # A is labelled 0 and B 1: swapping the domains and the sign of D's logits changes nothing
    assert content_discriminator_loss(la, lb).item() == pytest.approx(content_discriminator_loss(-lb, -la).item(),
                                                                       rel=1e-6, abs=1e-6)
    # the ½ target does not care which side of the boundary, nor which domain
    g = content_adversarial_loss(la, lb).item()
    assert g == pytest.approx(content_adversarial_loss(lb, la).item(), rel=1e-6, abs=1e-6)
    assert g == pytest.approx(content_adversarial_loss(-la, -lb).item(), rel=1e-6, abs=1e-6)


def plugin_on(content_A, content_B, **fields):
    plugin = ContentAdversarial(**fields)
    step = Step({"content_A": content_A, "content_B": content_B}, {}, {})
    plugin.materialize(step)
    return plugin, step


@settings(max_examples=12, deadline=None)
@given(size=st.sampled_from([8, 16, 32, 54, 64]), n=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_content_adversarial_property_gradients_reach_only_what_they_should(size, n, seed):
    torch.manual_seed(seed)
    c_A = torch.randn(n, 4, size, size, requires_grad=True)
    c_B = torch.randn(n, 4, size, size, requires_grad=True)
    plugin, step = plugin_on(c_A, c_B, width=4)
    d_c = plugin.modules()["D"]
    # the encoders' term: the codes learn, D_c gets nothing
    g_term = plugin.loss(step, "G")
    g_term.backward()
    assert all(p.grad is None for p in d_c.parameters())
    assert c_A.grad.abs().sum() > 0 and c_B.grad.abs().sum() > 0
    # D_c's term: D_c learns, the codes (detached) get nothing
    c_A.grad = c_B.grad = None
    plugin.loss(step, "D_content").backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d_c.parameters())
    assert c_A.grad is None and c_B.grad is None
    # one logit per sample whatever the content size
    assert d_c(c_A).shape == (n,)


def test_content_adversarial_roles_use_the_same_discriminator_output():
    torch.manual_seed(0)
    c_A, c_B = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    plugin, step = plugin_on(c_A, c_B, width=4)
    d_c = plugin.modules()["D"]
    with torch.no_grad():
        la, lb = d_c(c_A), d_c(c_B)
    assert plugin.loss(step, "G").item() == pytest.approx(content_adversarial_loss(la, lb).item(), rel=1e-6)
    assert plugin.loss(step, "D_content").item() == pytest.approx(content_discriminator_loss(la, lb).item(), rel=1e-6)


def test_content_adversarial_adds_its_optimiser_and_phase():
    recipe = Recipe(name="host", phases=[Phase(name="G", optimizers=[])], optimizers={"G": OptimizerSpec(modules=[])})
    recipe.add(ContentAdversarial())
    spec = recipe.optimizers["content_adversarial"]
    assert (spec.modules, spec.lr_mult, spec.clip, spec.weight_decay) == (("content_adversarial",), 0.4, 5.0, None)
    assert [p.name for p in recipe.phases] == ["D_content", "G"]
    assert recipe.phases[0].optimizers == ("content_adversarial",)
    # a recipe that has the phase keeps it and its place; the optimiser joins it once
    recipe = Recipe(name="host", phases=[Phase(name="G", optimizers=[]), Phase(name="D_content", optimizers=[])])
    recipe.add(ContentAdversarial())
    assert [p.name for p in recipe.phases] == ["G", "D_content"]
    assert recipe.phase("D_content").optimizers == ("content_adversarial",)


def test_content_adversarial_norm_and_slope_options_reach_its_discriminator():
    c = torch.randn(2, 4, 54, 54)
    plugin, _ = plugin_on(c, c, width=4, norm="instance", slope=0.2)
    layers = list(plugin.modules()["D"].modules())
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in layers) == 3  # the three stride-2 blocks
    assert {m.negative_slope for m in layers if isinstance(m, torch.nn.LeakyReLU)} == {0.2}
    plugin, _ = plugin_on(c, c, width=4)
    layers = list(plugin.modules()["D"].modules())
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in layers)
    assert {m.negative_slope for m in layers if isinstance(m, torch.nn.LeakyReLU)} == {0.01}
    with pytest.raises(ValueError):
        ContentAdversarial(norm="batch")
