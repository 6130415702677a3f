"""Property tests of total_variation, and the plugin on a hand-made step."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from i2i_core import Step
from i2i_tv_loss import TotalVariation, i2i_losses, total_variation

# N, C, H, W small enough for the loop formula; H, W ≥ 2 so both neighbour directions exist.
shapes = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(2, 6), st.integers(2, 6))
images = shapes.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-1, 1)))


def total_variation_by_loops(image: np.ndarray) -> float:
    """The docstring equation, one neighbour pair at a time."""
    n, c, h, w = image.shape
    vertical = [abs(image[a, b, i + 1, j] - image[a, b, i, j])
                for a in range(n) for b in range(c) for i in range(h - 1) for j in range(w)]
    horizontal = [abs(image[a, b, i, j + 1] - image[a, b, i, j])
                  for a in range(n) for b in range(c) for i in range(h) for j in range(w - 1)]
    return sum(vertical) / len(vertical) + sum(horizontal) / len(horizontal)


@settings(max_examples=50, deadline=None)
@given(images)
def test_tv_property_matches_the_loop_formula(image):
    assert np.isclose(total_variation(torch.from_numpy(image)).item(), total_variation_by_loops(image))


@settings(max_examples=30, deadline=None)
@given(shapes, st.floats(-1, 1))
def test_tv_property_zero_for_a_constant_image(shape, value):
    assert total_variation(torch.full(shape, value, dtype=torch.float64)).item() == 0.0


@settings(max_examples=30, deadline=None)
@given(images)
def test_tv_property_non_negative(image):
    assert total_variation(torch.from_numpy(image)).item() >= 0.0


def test_plugin_sums_tv_over_its_images():
    fake_A, fake_B = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    step = Step({"fake_A": fake_A, "fake_B": fake_B}, nets={}, products={})
    plugin = TotalVariation(images=["fake_B", "fake_A"], weight=0.5)
    assert plugin.reads() == ("fake_B", "fake_A")
    assert torch.isclose(plugin.loss(step, "G"), total_variation(fake_B) + total_variation(fake_A))
    assert i2i_losses() == [TotalVariation]
