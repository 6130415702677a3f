"""The Gaussian KL term (Kingma & Welling 2014, appendix B; as BicycleGAN and DRIT use it) against
closed forms, and the plugin around it."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core.step import Step
from i2i_plugins.kl import KL, kl_to_standard_normal

shapes = st.tuples(st.integers(1, 4), st.integers(1, 9))


@st.composite
def posteriors(draw):
    shape = draw(shapes)
    mu = draw(arrays(np.float32, shape, elements=st.floats(-4, 4, width=32)))
    logvar = draw(arrays(np.float32, shape, elements=st.floats(-4, 4, width=32)))
    return torch.from_numpy(mu), torch.from_numpy(logvar)


def one_dimensional_kl(m: float, logvar: float) -> float:
    """KL(N(m, s²) ‖ N(0, 1)) = ½ (s² + m² − 1 − ln s²), the textbook closed form."""
    variance = math.exp(logvar)
    return 0.5 * (variance + m * m - 1 - logvar)


@settings(max_examples=50, deadline=None)
@given(posterior=posteriors())
def test_kl_property_is_the_sum_of_one_dimensional_divergences(posterior):
    mu, logvar = posterior
    want = sum(one_dimensional_kl(m, lv) for m, lv in zip(mu.double().flatten().tolist(), logvar.double().flatten().tolist()))
    assert kl_to_standard_normal(mu, logvar, "sum").item() == pytest.approx(want, rel=1e-5, abs=1e-5)
    assert kl_to_standard_normal(mu, logvar, "mean").item() == pytest.approx(want / mu.numel(), rel=1e-5, abs=1e-5)


@settings(max_examples=50, deadline=None)
@given(posterior=posteriors())
def test_kl_property_is_non_negative_and_zero_only_at_the_prior(posterior):
    mu, logvar = posterior
    assert kl_to_standard_normal(mu, logvar).item() >= 0.0
    assert kl_to_standard_normal(torch.zeros_like(mu), torch.zeros_like(logvar)).item() == 0.0
    away = torch.zeros_like(mu)
    away[0, 0] = 0.5
    assert kl_to_standard_normal(away, torch.zeros_like(logvar)).item() == pytest.approx(0.125)


@settings(max_examples=50, deadline=None)
@given(posterior=posteriors())
def test_kl_property_gradient_is_mu_and_half_of_variance_minus_one(posterior):
    # ∂KL/∂μ = μ and ∂KL/∂lv = ½(e^{lv} − 1) per element under the sum reduction.
    mu, logvar = (t.clone().requires_grad_() for t in posterior)
    kl_to_standard_normal(mu, logvar, "sum").backward()
    assert torch.allclose(mu.grad, mu.detach(), atol=1e-6)
    assert torch.allclose(logvar.grad, 0.5 * (logvar.detach().exp() - 1), rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(m=st.floats(-3, 3), sign=st.sampled_from([-1.0, 1.0]))
def test_kl_property_is_symmetric_in_the_sign_of_mu(m, sign):
    mu = torch.tensor([[m, 0.5]])
    logvar = torch.tensor([[0.3, -1.0]])
    assert kl_to_standard_normal(sign * mu, logvar).item() == pytest.approx(kl_to_standard_normal(mu, logvar).item())


def test_kl_one_dimensional_cases():
    assert kl_to_standard_normal(torch.tensor([1.0]), torch.tensor([0.0])).item() == pytest.approx(0.5)
    # N(0, e) to N(0, 1): ½(e − 1 − 1)
    assert kl_to_standard_normal(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(0.5 * (math.e - 2))
    with pytest.raises(ValueError, match="reduction"):
        kl_to_standard_normal(torch.zeros(1), torch.zeros(1), "batchmean")


def test_kl_plugin_reads_its_names_and_sums_over_pairs():
    batch = {"mu": torch.ones(2, 8), "logvar": torch.zeros(2, 8), "mu_B": torch.zeros(2, 8), "logvar_B": torch.ones(2, 8)}
    step = Step(batch, {}, {})
    assert KL().reads() == ("mu", "logvar")
    assert KL().loss(step, "G").item() == pytest.approx(0.5 * 16)  # BicycleGAN: summed over batch and dims
    assert KL(reduction="mean").loss(step, "G").item() == pytest.approx(0.5)
    both = KL(pairs=[["mu", "logvar"], ["mu_B", "logvar_B"]])
    assert both.reads() == ("mu", "logvar", "mu_B", "logvar_B")
    assert both.loss(step, "G").item() == pytest.approx(0.5 * 16 + 16 * 0.5 * (math.e - 2), rel=1e-6)
    with pytest.raises(ValueError):
        KL(pairs=[["mu"]])
