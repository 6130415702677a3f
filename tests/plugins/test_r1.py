"""The R1 gradient penalty (Mescheder et al. 2018; applied as in the CUT reference code,
models/sincut_model.py) against closed forms, and the plugin around it."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core.step import Step
from i2i_plugins.r1 import R1, r1_penalty

shapes = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4))
values = st.floats(-3, 3, allow_nan=False, width=32)
gammas = st.floats(0.0, 10.0, allow_nan=False)


@st.composite
def problems(draw):
    shape = draw(shapes)
    images = draw(arrays(np.float32, shape, elements=values))
    weights = draw(arrays(np.float32, shape[1:], elements=values))
    return torch.from_numpy(images).requires_grad_(), torch.from_numpy(weights)


@settings(max_examples=40, deadline=None)
@given(problem=problems(), gamma=gammas, offset=values)
def test_r1_property_linear_discriminator_has_closed_form(problem, gamma, offset):
    # D(y)_b = Σ w·y_b + c: every sample's gradient is w, so R1 = γ/2 · ‖w‖².
    real, w = problem
    pred = (real * w).flatten(1).sum(1, keepdim=True) + offset
    want = gamma / 2 * float((w.double() ** 2).sum())
    assert r1_penalty(pred, real, gamma).item() == pytest.approx(want, rel=1e-5, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(problem=problems(), gamma=gammas)
def test_r1_property_quadratic_discriminator_averages_over_samples(problem, gamma):
    # D(y)_b = Σ a·y_b²: gradient 2a·y_b, so R1 = γ/2 · (1/B) Σ_b Σ (2a·y_b)².
    real, a = problem
    pred = (a * real ** 2).flatten(1).sum(1, keepdim=True)
    per_sample = ((2 * a.double() * real.detach().double()) ** 2).flatten(1).sum(1)
    want = gamma / 2 * float(per_sample.mean())
    assert r1_penalty(pred, real, gamma).item() == pytest.approx(want, rel=1e-5, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(problem=problems(), constant=values)
def test_r1_property_zero_for_a_discriminator_constant_in_its_input(problem, constant):
    real, _ = problem
    pred = 0 * real.flatten(1).sum(1, keepdim=True) + constant
    assert r1_penalty(pred, real).item() == 0.0


@settings(max_examples=20, deadline=None)
@given(problem=problems(), gamma=st.floats(0.1, 10.0))
def test_r1_property_scales_linearly_with_gamma(problem, gamma):
    real, w = problem
    pred = torch.tanh(real * w).flatten(1).sum(1, keepdim=True)
    base = r1_penalty(pred, real, 1.0)
    assert r1_penalty(pred, real, gamma).item() == pytest.approx(gamma * base.item(), rel=1e-5, abs=1e-7)
    assert base.item() >= 0


def small_discriminator():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.LazyLinear(1))


def r1_step(index=0):
    real = torch.rand(3, 3, 8, 8) * 2 - 1
    return Step({"real_B": real}, {"D": small_discriminator()}, {}, index=index)


def test_r1_gradient_reaches_the_discriminator_parameters():
    step = r1_step()
    value = R1(discriminator="D", real="real_B").loss(step, "D")
    value.backward()
    *inner, last_bias = step.net("D").parameters()
    assert value.item() > 0 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in inner)
    assert last_bias.grad is None  # an output offset does not change ∂D/∂y
    assert not step["real_B"].requires_grad  # the shared batch tensor is left alone


def test_r1_plugin_equals_the_penalty_on_the_real_images():
    step = r1_step()
    real = step["real_B"].clone().requires_grad_()
    want = r1_penalty(step.net("D")(real), real, 2.0)
    assert R1(discriminator="D", real="real_B", gamma=2.0).loss(step, "D").item() == pytest.approx(want.item(), rel=1e-6)


def test_r1_lazy_interval_scales_by_k_and_skips_other_steps():
    every = R1(discriminator="D", real="real_B").loss(r1_step(index=6), "D")
    lazy = R1(discriminator="D", real="real_B", interval=3)
    assert lazy.loss(r1_step(index=6), "D").item() == pytest.approx(3 * every.item(), rel=1e-6)
    assert lazy.loss(r1_step(index=7), "D").item() == 0.0
    with pytest.raises(ValueError):
        R1(interval=0)
    with pytest.raises(ValueError):
        R1(gamma=-1)


class CountingD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner, self.calls = small_discriminator(), 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize("declared", [True, False])
def test_r1_shares_the_adversarial_losss_judgement_of_the_real_images(declared):
    """With the need declared (the trainer does it from ``input_gradients``), adversarial then R1
    judge the real images once between them; undeclared, R1 still gets a differentiable input by
    judging again. Either way the penalty and the D loss are the ones computed separately."""
    from i2i_plugins.adversarial import Adversarial

    torch.manual_seed(1)
    batch = {"real_B": torch.rand(3, 3, 8, 8) * 2 - 1, "fake_B": torch.rand(3, 3, 8, 8) * 2 - 1}
    r1, adversarial = R1(discriminator="D", real="real_B"), Adversarial(mode="nonsaturating", terms=[("D", "real_B", "fake_B")])
    d = CountingD()
    step = Step(batch, {"D": d}, {}, input_grads=frozenset(r1.input_gradients(0)) if declared else frozenset())
    d_loss, penalty = adversarial.loss(step, "D"), r1.loss(step, "D")
    assert d.calls == (2 if declared else 3)  # fake once, real once (declared) or twice
    assert not step.detached("real_B").requires_grad  # the view other plugins read is left alone
    shared_grads = torch.autograd.grad(d_loss + penalty, list(d.parameters()))
    separate = adversarial.loss(Step(batch, {"D": d}, {}), "D"), r1.loss(Step(batch, {"D": d}, {}), "D")
    assert penalty.item() == pytest.approx(separate[1].item(), rel=1e-6)
    assert d_loss.item() == pytest.approx(separate[0].item(), rel=1e-6)
    for shared, alone in zip(shared_grads, torch.autograd.grad(sum(separate), list(d.parameters()))):
        torch.testing.assert_close(shared, alone, rtol=1e-5, atol=1e-7)
    before = d.calls
    step.new_phase()  # D changes between phases: nothing judged before is reused
    r1.loss(step, "D")
    assert d.calls == before + 1


def test_lazy_r1_asks_for_input_gradients_only_on_its_steps():
    lazy = R1(discriminator="D", real="real_B", interval=4)
    assert lazy.input_gradients(8) == (("D", "real_B", None),) and lazy.input_gradients(9) == ()


def test_r1_refuses_a_network_that_is_no_discriminator(monkeypatch):
    from i2i_core import plugins as registry
    from i2i_core.errors import PluginError
    from i2i_core.recipe import NetSpec, Recipe
    from i2i_plugins.adversarial import Adversarial

    class Scorer:  # scores through a method, so it cannot be called as D(x)
        def score(self, x):
            return x.mean()

    table = dict(registry.networks(), scorer=Scorer)
    monkeypatch.setattr(registry, "networks", lambda: table)
    def host(kind):
        recipe = Recipe(name="host", nets={"D": NetSpec(kind=kind)})
        recipe.plugins["adversarial"] = Adversarial(terms=[("D", "real_B", "fake_B")])  # its own check would refuse first
        return recipe

    with pytest.raises(PluginError, match=r"plugin 'r1' needs network 'D' to implement Discriminator"):
        R1().check(host("scorer"))
    R1().check(host("patchgan"))


@pytest.mark.parametrize("recipe, judged", [
    ("pix2pix", {("D", "real_B", "real_A")}),
    ("msgan", {("D", "real_B", "real_A")}),  # two fakes, one real: penalised once
    ("cyclegan", {("D_B", "real_B", None), ("D_A", "real_A", None)}),
    ("bicyclegan", {("D", "real_B_encoded", None), ("D2", "real_B_random", None)}),
])
def test_add_r1_penalises_each_discriminator_of_the_recipe_as_it_is_called(recipe, judged):
    from i2i_core.recipe import BuildOptions, build_recipe

    built = build_recipe(recipe, BuildOptions(image_size=32, preset="tiny"), adds=["r1"])
    assert set(built.plugins["r1"].input_gradients(0)) == judged
    one = build_recipe(recipe, BuildOptions(image_size=32, preset="tiny"), adds=[f"r1:discriminator={min(judged)[0]}"])
    assert set(one.plugins["r1"].input_gradients(0)) == {min(judged)}


def test_r1_on_a_conditional_discriminator_is_the_gradient_with_respect_to_the_image_only():
    from i2i_plugins.testing import example_judged

    plugin = R1(gamma=2.0)
    step = example_judged(plugin, condition=True)  # D sees cat([real_A, image])
    real = step["real_B"].detach().clone().requires_grad_()
    want = r1_penalty(step.net("D")(torch.cat([step["real_A"].detach(), real], 1)), real, 2.0)
    assert plugin.loss(step, "D").item() == pytest.approx(want.item(), rel=1e-6)


def test_i2i_recipes_shows_how_each_discriminator_is_called(capsys):
    from i2i_core.cli import main

    assert main(["recipes", "pix2pix"]) == 0
    assert "discriminators: D on real_B beside real_A\n" in capsys.readouterr().out
    assert main(["recipes", "cyclegan"]) == 0
    assert "discriminators: D_B on real_B, D_A on real_A\n" in capsys.readouterr().out
