"""Step: products computed once and lazily, multi-output products, and its errors."""
import pytest
import torch

from i2i_core.step import ProductError, Step


class Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * 2


def test_products_are_computed_once_and_lazily():
    G = Counting()
    products = {"fake_B": lambda s: s.G(s.real_A), "rec_A": lambda s: s.G(s.fake_B), "unused": lambda s: s.G(s.real_A)}
    step = Step({"real_A": torch.ones(1, 3, 4, 4)}, {"G": G}, {(k,): f for k, f in products.items()})
    assert G.calls == 0
    step["rec_A"], step["fake_B"], step.detached("fake_B"), step.rec_A
    assert G.calls == 2  # fake_B once (also reached through rec_A), rec_A once, unused never
    assert step.detached("fake_B") is step.detached("fake_B")
    assert not step.detached("fake_B").requires_grad


def test_multi_output_products_and_errors():
    products = {("a", "b"): lambda s: (s.x + 1, s.x + 2), ("loop",): lambda s: s.loop}
    step = Step({"x": torch.zeros(1)}, {}, products)
    assert step.b.item() == 2 and step.a.item() == 1
    with pytest.raises(ProductError, match="no product or batch entry named 'missing'"):
        step["missing"]
    with pytest.raises(ProductError, match="depends on itself"):
        step["loop"]
