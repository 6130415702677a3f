"""The adversarial plugin: its criteria against slow formulas written here, their optimum and
gradient direction, and the Discriminator protocol it checks."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_plugins.adversarial import MODES, discriminator_loss, generator_loss

finite = st.floats(-5, 5, allow_nan=False, width=32)
maps = arrays(np.float32, st.tuples(st.integers(1, 3), st.just(1), st.integers(1, 4), st.integers(1, 4)), elements=finite)


def slow_criterion(d: np.ndarray, real: bool, mode: str) -> float:
    """The criteria of GANLoss in the CycleGAN and CUT reference code (models/networks.py), and hinge
    (Lim & Ye 2017), one element at a time."""
    def softplus(x):
        return math.log1p(math.exp(-abs(x))) + max(x, 0.0)

    per_sample = []
    for sample in d.astype(np.float64):
        values = []
        for x in sample.flat:
            if mode == "lsgan":
                values.append((x - 1) ** 2 if real else x ** 2)
            elif mode in ("vanilla", "nonsaturating"):
                values.append(softplus(-x) if real else softplus(x))
            else:
                values.append(max(0.0, 1 - x) if real else max(0.0, 1 + x))
        per_sample.append(values)
    if mode == "nonsaturating":
        return float(np.mean([np.mean(v) for v in per_sample]))
    return float(np.mean([x for v in per_sample for x in v]))


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=30, deadline=None)
@given(real=maps, fake=maps)
def test_adversarial_property_discriminator_matches_slow_formula(mode, real, fake):
    got = discriminator_loss(torch.from_numpy(real), torch.from_numpy(fake), mode).item()
    want = slow_criterion(real, True, mode) + slow_criterion(fake, False, mode)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)
    assert got >= 0


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=30, deadline=None)
@given(fake=maps)
def test_adversarial_property_generator_matches_slow_formula(mode, fake):
    got = generator_loss(torch.from_numpy(fake), mode).item()
    want = -float(fake.astype(np.float64).mean()) if mode == "hinge" else slow_criterion(fake, True, mode)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=20, deadline=None)
@given(a=maps, b=maps)
def test_adversarial_property_lists_of_maps_sum_over_scales(mode, a, b):
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    assert generator_loss([ta, tb], mode).item() == pytest.approx(
        generator_loss(ta, mode).item() + generator_loss(tb, mode).item(), rel=1e-5, abs=1e-5)
    assert discriminator_loss([ta, tb], [tb, ta], mode).item() == pytest.approx(
        discriminator_loss(ta, tb, mode).item() + discriminator_loss(tb, ta, mode).item(), rel=1e-5, abs=1e-5)


def test_adversarial_optimum_and_gradient_direction():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert discriminator_loss(ones, zeros, "lsgan").item() == 0.0
    assert generator_loss(ones, "lsgan").item() == 0.0
    assert discriminator_loss(ones * 2, -ones * 2, "hinge").item() == 0.0
    for mode in MODES:
        fake = torch.full((2, 1, 3, 3), 0.5, requires_grad=True)
        generator_loss(fake, mode).backward()
        assert (fake.grad < 0).all(), mode  # G wants D to call its fakes more real
        real = torch.full((2, 1, 3, 3), 0.5, requires_grad=True)
        fake = torch.full((2, 1, 3, 3), 0.5, requires_grad=True)
        discriminator_loss(real, fake, mode).backward()
        assert (real.grad < 0).all() and (fake.grad > 0).all(), mode


def test_vanilla_equals_nonsaturating_for_equal_maps():
    d = torch.randn(4, 1, 5, 5)
    assert generator_loss(d, "vanilla").item() == pytest.approx(generator_loss(d, "nonsaturating").item(), rel=1e-6)


class Scorer:
    """A network kind that scores images through a method, not by being called: no Discriminator."""

    def score(self, x):
        return x.mean()


def test_adversarial_refuses_a_network_that_is_no_discriminator(monkeypatch):
    from i2i_core import plugins as registry
    from i2i_core.errors import PluginError
    from i2i_core.recipe import NetSpec, Recipe
    from i2i_plugins.adversarial import Adversarial

    table = dict(registry.networks(), scorer=Scorer)
    monkeypatch.setattr(registry, "networks", lambda: table)
    plugin = Adversarial(terms=[["D", "real_B", "fake_B"]])
    with pytest.raises(PluginError, match=r"plugin 'adversarial' needs network 'D' to implement Discriminator "
                                          r"\(__call__\(x\)\), but network kind 'scorer' \(Scorer\) lacks __call__"):
        plugin.check(Recipe(name="host", nets={"D": NetSpec(kind="scorer")}))
    plugin.check(Recipe(name="host", nets={"D": NetSpec(kind="patchgan")}))
