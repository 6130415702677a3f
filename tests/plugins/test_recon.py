"""MUNIT's reconstruction plugins (Huang et al. 2018, §3.1; the MUNIT reference code, trainer.py): closed
forms, symmetry, shapes, and which modules of the ``munit`` recipe each term's gradient reaches."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.step import Step
from i2i_plugins.cycle import cycle_loss
from i2i_plugins.recon_content import ContentReconstruction, content_reconstruction_loss
from i2i_plugins.recon_image import ImageReconstruction, image_reconstruction_loss
from i2i_plugins.recon_style import StyleReconstruction, style_reconstruction_loss

images = arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
                elements=st.floats(-1, 1, width=32))
codes = arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 8)), elements=st.floats(-3, 3, width=32))


@settings(max_examples=30, deadline=None)
@given(image=images, offset=st.floats(-2, 2, width=32))
def test_recon_image_property_constant_offset_costs_its_magnitude(image, offset):
    x = torch.from_numpy(image)
    assert image_reconstruction_loss(x + offset, x).item() == pytest.approx(abs(offset), rel=1e-5, abs=1e-6)
    assert image_reconstruction_loss(x, x).item() == 0


@settings(max_examples=30, deadline=None)
@given(a=images, b=images)
def test_recon_image_property_plugin_sums_its_pairs(a, b):
    x, y = torch.from_numpy(a), torch.from_numpy(b)
    if x.shape != y.shape:
        with pytest.raises(ValueError, match="differ in shape"):
            image_reconstruction_loss(x, y)
        return
    step = Step({"self_recon_A": x, "real_A": y, "self_recon_B": y, "real_B": -x}, {}, {})
    want = (x - y).abs().double().mean() + (x + y).abs().double().mean()
    assert ImageReconstruction().loss(step, "G").item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(a=codes, b=codes)
def test_recon_style_property_symmetric_nonnegative_and_exact(a, b):
    s, t = torch.from_numpy(a), torch.from_numpy(b)
    if s.shape != t.shape:
        return
    forward, backward = style_reconstruction_loss(s, t).item(), style_reconstruction_loss(t, s).item()
    assert forward == pytest.approx(backward) and forward >= 0
    assert forward == pytest.approx(float(np.abs(a.astype(np.float64) - b).mean()), rel=1e-5, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(code=codes)
def test_recon_style_property_refuses_to_broadcast_reference_shaped_codes(code):
    s = torch.from_numpy(code)
    with pytest.raises(ValueError, match="differ in shape"):
        style_reconstruction_loss(s, s[:, :, None, None])  # (B, 8) against the reference's (B, 8, 1, 1)


@settings(max_examples=30, deadline=None)
@given(a=images, shift=st.floats(0.015625, 1, width=32))
def test_recon_content_property_gradient_reaches_both_sides(a, shift):
    recovered = torch.from_numpy(a).requires_grad_()
    content = (torch.from_numpy(a) + shift).requires_grad_()
    loss = content_reconstruction_loss(recovered, content)
    assert loss.item() == pytest.approx(shift, rel=1e-4)
    g_recovered, g_content = torch.autograd.grad(loss, [recovered, content])
    n = a.size
    assert torch.allclose(g_recovered, torch.full_like(g_recovered, -1 / n))  # recovered < content everywhere
    assert torch.allclose(g_content, torch.full_like(g_content, 1 / n))  # the target is not detached


# -- which modules each term reaches, in the munit recipe ---------------------------------------

PARTS = ("enc_style", "enc_content", "dec", "mlp")


@pytest.fixture(scope="module")
def munit_parts():
    torch.manual_seed(0)
    recipe = build_recipe("munit", BuildOptions(image_size=32, preset="tiny"))
    nets = {name: spec.build() for name, spec in recipe.nets.items()}
    batch = {"real_A": torch.rand(2, 3, 32, 32) * 2 - 1, "real_B": torch.rand(2, 3, 32, 32) * 2 - 1}
    return recipe, nets, batch


def reached(munit_parts, term):
    """Flattened gradient of ``term(step)`` per network part that gets a non-zero gradient."""
    recipe, nets, batch = munit_parts
    torch.manual_seed(1)  # the same prior codes for every term compared
    loss = term(Step(batch, nets, recipe.products))
    parts = {f"{net}.{part}": list(getattr(nets[net], part).parameters()) for net in ("G_A", "G_B") for part in PARTS}
    parts.update({net: list(nets[net].parameters()) for net in ("D_A", "D_B")})
    found = {}
    for name, params in parts.items():
        grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
        flat = torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, grads)])
        if flat.abs().sum() > 0:
            found[name] = flat
    return found


def term_of(plugin):
    return lambda step: plugin.loss(step, "G")


def test_recon_image_reaches_the_whole_autoencoder_of_its_domain_only(munit_parts):
    found = reached(munit_parts, term_of(ImageReconstruction(pairs=[("self_recon_A", "real_A")])))
    assert set(found) == {f"G_A.{part}" for part in PARTS}


def test_recon_style_reaches_the_style_encoder_and_the_path_of_the_translation(munit_parts):
    # ŝ_B = E_B^s(G_B(E_A^c(real_A), s_B)); s_B is a constant prior sample
    found = reached(munit_parts, term_of(StyleReconstruction(pairs=[("style_prior_B_recovered", "style_prior_B")])))
    assert set(found) == {"G_B.enc_style", "G_B.dec", "G_B.mlp", "G_A.enc_content"}


def test_recon_content_reaches_the_source_encoder_directly_as_well(munit_parts):
    # ĉ_A = E_B^c(G_B(c_A, s_B)) against c_A = E_A^c(real_A), not detached
    found = reached(munit_parts, term_of(ContentReconstruction(pairs=[("content_A_recovered", "content_A")])))
    assert set(found) == {"G_B.enc_content", "G_B.dec", "G_B.mlp", "G_A.enc_content"}
    detached = reached(munit_parts, lambda step: content_reconstruction_loss(step["content_A_recovered"],
                                                                             step["content_A"].detach()))
    assert torch.allclose(found["G_B.enc_content"], detached["G_B.enc_content"])
    assert not torch.allclose(found["G_A.enc_content"], detached["G_A.enc_content"])


def test_style_augmented_cycle_decodes_the_recovered_content_with_the_encoded_style(munit_parts):
    # rec_A = G_A(E_B^c(fake_B), E_A^s(real_A)): everything but B's style encoder takes part
    recipe = munit_parts[0]
    cycle = recipe.plugins["cycle"]
    assert cycle.weight == 0  # off by default (recon_x_cyc_w); its products are then never computed
    found = reached(munit_parts, lambda step: cycle_loss(step["rec_A"], step["real_A"]))
    assert set(found) == {f"{net}.{part}" for net in ("G_A", "G_B") for part in PARTS} - {"G_B.enc_style"}
