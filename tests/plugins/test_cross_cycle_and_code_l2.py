"""DRIT's cross_cycle and code_l2 plugins: property tests against their closed forms."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_plugins.code_l2 import code_l2_loss
from i2i_plugins.cross_cycle import CrossCycle, cross_cycle_loss

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
