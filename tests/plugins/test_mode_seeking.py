"""The mode-seeking term (Mao et al. 2019): its two forms, scale behaviour, and generation through a Translator."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core.errors import PluginError
from i2i_core.recipe import Recipe
from i2i_core.step import Step
from i2i_plugins.mode_seeking import ModeSeeking, mode_seeking_loss
from i2i_plugins.testing import example_step, example_translator


@st.composite
def samples(draw):
    """Two images from one condition and their two codes, with distinct codes."""
    n = draw(st.integers(1, 3))
    image_shape = (n, draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    pixels = st.floats(-1, 1, width=32)
    image_1, image_2 = (draw(arrays(np.float32, image_shape, elements=pixels)) for _ in range(2))
    code_1 = draw(arrays(np.float32, (n, 4), elements=st.floats(-3, 3, width=32)))
    code_2 = code_1 + draw(arrays(np.float32, (n, 4), elements=st.floats(0.0625, 2, width=32)))
    return [torch.from_numpy(a) for a in (image_1, image_2, code_1, code_2)]


def ratio(image_1, image_2, code_1, code_2) -> float:
    """d_I / d_z as the MSGAN reference code computes it: a ratio of two means over the whole batch."""
    d_image = np.abs(image_2.double().numpy() - image_1.double().numpy()).mean()
    d_code = np.abs(code_2.double().numpy() - code_1.double().numpy()).mean()
    return d_image / d_code


@settings(max_examples=50, deadline=None)
@given(sample=samples())
def test_mode_seeking_property_code_and_paper_forms(sample):
    r = ratio(*sample)
    assert mode_seeking_loss(*sample).item() == pytest.approx(1 / (r + 1e-5), rel=1e-4)
    assert mode_seeking_loss(*sample, form="paper").item() == pytest.approx(-r, rel=1e-4, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(sample=samples(), scale=st.floats(1.5, 10))
def test_mode_seeking_property_scaling_the_image_difference_scales_the_ratio(sample, scale):
    image_1, image_2, code_1, code_2 = sample
    spread = image_1 + scale * (image_2 - image_1)
    base = -mode_seeking_loss(image_1, image_2, code_1, code_2, form="paper").item()
    scaled = -mode_seeking_loss(image_1, spread, code_1, code_2, form="paper").item()
    assert scaled == pytest.approx(scale * base, rel=1e-4, abs=1e-6)
    # the code form falls as the outputs spread apart (more diversity, smaller loss)
    if base > 1e-3:
        assert mode_seeking_loss(image_1, spread, code_1, code_2).item() < mode_seeking_loss(*sample).item()


@settings(max_examples=50, deadline=None)
@given(sample=samples(), scale=st.floats(1.5, 10))
def test_mode_seeking_property_farther_codes_lower_the_ratio(sample, scale):
    image_1, image_2, code_1, code_2 = sample
    far = code_1 + scale * (code_2 - code_1)
    assert ratio(image_1, image_2, code_1, far) == pytest.approx(ratio(*sample) / scale, rel=1e-4, abs=1e-9)
    assert -mode_seeking_loss(image_1, image_2, code_1, far, form="paper").item() == pytest.approx(
        ratio(*sample) / scale, rel=1e-4, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(sample=samples())
def test_mode_seeking_property_identical_images_give_the_reciprocal_of_eps(sample):
    image_1, _, code_1, code_2 = sample
    assert mode_seeking_loss(image_1, image_1.clone(), code_1, code_2).item() == pytest.approx(1e5)


def test_mode_seeking_is_a_ratio_of_batch_means_not_a_mean_of_ratios():
    image_1 = torch.zeros(2, 1, 1, 1)
    image_2 = torch.tensor([1.0, 0.0]).view(2, 1, 1, 1)
    code_1 = torch.zeros(2, 1)
    code_2 = torch.tensor([[1.0], [3.0]])
    # batch means: d_I = 0.5, d_z = 2 → 0.25; per-sample ratios would average (1 + 0) / 2 = 0.5
    assert -mode_seeking_loss(image_1, image_2, code_1, code_2, form="paper").item() == pytest.approx(0.25)


def test_mode_seeking_reads_named_pairs():
    a, b = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    z1, z2 = torch.zeros(2, 8), torch.full((2, 8), 2.0)
    step = Step({"fake_B": a, "fake_B2": b, "z": z1, "z2": z2}, {}, {})
    plugin = ModeSeeking(images=["fake_B", "fake_B2"], codes=["z", "z2"])
    assert plugin.reads() == ("fake_B", "fake_B2", "z", "z2")
    assert plugin.loss(step, "G").item() == pytest.approx(1 / (0.5 + 1e-5))
    two = ModeSeeking(images=[["fake_B", "fake_B2"], ["fake_B2", "fake_B"]], codes=[["z", "z2"], ["z", "z2"]])
    assert two.loss(step, "G").item() == pytest.approx(2 / (0.5 + 1e-5))
    with pytest.raises(ValueError, match="code pairs"):
        ModeSeeking(images=["fake_B", "fake_B2"])


def test_mode_seeking_generates_its_pair_through_the_translator():
    plugin = ModeSeeking()
    step = example_step(plugin)
    assert plugin.reads() == ("real_A",)
    value = plugin.loss(step, "G")
    assert torch.isfinite(value) and value.item() > 0
    generator = step.net("G")
    grads = torch.autograd.grad(value, list(generator.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)  # the term trains the generator
    assert ModeSeeking(direction="BtoA").reads() == ("real_B",)


def test_mode_seeking_needs_a_recipe_that_samples_codes():
    recipe = Recipe(name="cyclegan", translators={"AtoB": "G_AB"})
    with pytest.raises(PluginError, match="plugin 'mode_seeking' needs a recipe that samples a latent code"):
        ModeSeeking().check(recipe)
    ModeSeeking(images=["a", "b"], codes=["z", "z2"]).check(recipe)  # named pairs need no Translator
    with pytest.raises(PluginError, match="BtoA translator"):  # a recipe translating AtoB only
        ModeSeeking(direction="BtoA").check(Recipe(name="example", translators={"AtoB": example_translator()}))
