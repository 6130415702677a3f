"""Property tests of the built-in L1 terms (cycle, identity, paired_l1) against a slow formula
written here."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_plugins.cycle import cycle_loss
from i2i_plugins.identity import identity_loss
from i2i_plugins.paired_l1 import paired_l1_loss

images = arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
                elements=st.floats(-1, 1, width=32))


@pytest.mark.parametrize("fn", [cycle_loss, identity_loss, paired_l1_loss])
@settings(max_examples=40, deadline=None)
@given(a=images, data=st.data())
def test_l1_property(fn, a, data):
    b = data.draw(arrays(np.float32, a.shape, elements=st.floats(-1, 1, width=32)))
    got = fn(torch.from_numpy(a), torch.from_numpy(b)).item()
    want = sum(abs(float(x) - float(y)) for x, y in zip(a.flat, b.flat)) / a.size
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert got >= 0
    assert fn(torch.from_numpy(a), torch.from_numpy(a)).item() == 0.0


@settings(max_examples=20, deadline=None)
@given(a=images)
def test_cycle_property_gradient_points_back_to_the_original(a):
    original = torch.from_numpy(a)
    rec = (original + 0.5).requires_grad_()
    cycle_loss(rec, original).backward()
    assert (rec.grad > 0).all()
    assert rec.grad.sum().item() == pytest.approx(1.0, rel=1e-5)  # mean reduction: gradients sum to 1


@settings(max_examples=20, deadline=None)
@given(a=images)
def test_identity_property_is_symmetric(a):
    x = torch.from_numpy(a)
    y = x.flip(-1)
    assert identity_loss(x, y).item() == pytest.approx(identity_loss(y, x).item())


@settings(max_examples=20, deadline=None)
@given(a=images)
def test_paired_l1_property_scales_linearly(a):
    x = torch.from_numpy(a)
    assert paired_l1_loss(2 * x, torch.zeros_like(x)).item() == pytest.approx(
        2 * paired_l1_loss(x, torch.zeros_like(x)).item(), rel=1e-5, abs=1e-7)
