"""Latent regression (Zhu et al. 2017; the BicycleGAN reference code, models/bicycle_gan_model.py): the
L1 term, and E frozen for it while G learns through E."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2i_core import plugins as registry
from i2i_core.recipe import BuildOptions, DataSpec, NetSpec, OptimizerSpec, Phase, Recipe, Schedule
from i2i_core.step import Step
from i2i_core.training import Trainer, TrainOptions
from i2i_plugins.latent_regression import LatentRegression, latent_regression_loss
from i2i_plugins.testing import CodeEncoder, CodeGenerator

codes = st.tuples(st.integers(1, 4), st.integers(1, 9)).flatmap(
    lambda shape: st.tuples(*[arrays(np.float32, shape, elements=st.floats(-3, 3, width=32))] * 2))


@settings(max_examples=50, deadline=None)
@given(pair=codes)
def test_latent_regression_property_is_the_mean_absolute_error_and_symmetric(pair):
    recovered, code = (torch.from_numpy(a) for a in pair)
    want = float(np.mean(np.abs(pair[0].astype(np.float64) - pair[1].astype(np.float64))))
    assert latent_regression_loss(recovered, code).item() == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert latent_regression_loss(recovered, code).item() == latent_regression_loss(code, recovered).item()
    assert latent_regression_loss(code, code).item() == 0.0


@settings(max_examples=50, deadline=None)
@given(pair=codes)
def test_latent_regression_property_gradient_is_the_sign_over_the_count(pair):
    recovered, code = torch.from_numpy(pair[0]).requires_grad_(), torch.from_numpy(pair[1])
    latent_regression_loss(recovered, code).backward()
    assert torch.allclose(recovered.grad, torch.sign(recovered.detach() - code) / code.numel())


def test_latent_regression_plugin_names_and_pairs():
    step = Step({"z": torch.zeros(2, 8), "z_recovered": torch.ones(2, 8), "z_2": torch.full((2, 8), 3.0)}, {}, {})
    assert LatentRegression().reads() == ("z_recovered", "z")
    assert LatentRegression().loss(step, "G").item() == 1.0
    assert LatentRegression(code="z_2").loss(step, "G").item() == 2.0
    both = LatentRegression(pairs=[["z_recovered", "z"], ["z_recovered", "z_2"]])
    assert both.loss(step, "G").item() == 3.0


@pytest.fixture
def frozen_encoder_trainer(tmp_path, monkeypatch):
    """G(A, z) and E on demo pairs, with the latent term frozen for E as BicycleGAN's recipe sets it."""
    table = dict(registry.networks(), example_code_generator=CodeGenerator, example_code_encoder=CodeEncoder)
    monkeypatch.setattr(registry, "networks", lambda: table)
    recipe = Recipe(
        name="latent_example",
        nets={"G": NetSpec(kind="example_code_generator"), "E": NetSpec(kind="example_code_encoder")},
        products={"z": lambda s: torch.randn(s.batch_size(), 4),
                  "fake_B": lambda s: s.G(s.real_A, s.z),
                  "z_recovered": lambda s: s.E(s.fake_B)[0]},
        phases=[Phase(name="G", optimizers=["G", "E"])],
        optimizers={"G": OptimizerSpec(modules=["G"]), "E": OptimizerSpec(modules=["E"])},
        schedule=Schedule(policy="constant"), data=DataSpec(paired=True, batch_size=2))
    recipe.add(LatentRegression(weight=0.5, detach_from=["E"]))
    return Trainer(recipe.validate(), TrainOptions(data="demo", out=tmp_path, steps=2), BuildOptions(image_size=32))


def test_latent_regression_trains_g_through_a_frozen_encoder(frozen_encoder_trainer):
    trainer = frozen_encoder_trainer
    step = Step(trainer.batch_for(0), trainer.nets, trainer.recipe.products)
    e_before = [p.detach().clone() for p in trainer.nets["E"].parameters()]
    g_before = [p.detach().clone() for p in trainer.nets["G"].parameters()]
    trainer.run_phase(trainer.recipe.phase("G"), step, 0)
    assert all(p.grad is None or not p.grad.any() for p in trainer.nets["E"].parameters())
    assert all(torch.equal(a, b) for a, b in zip(e_before, trainer.nets["E"].parameters()))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.nets["G"].parameters())
    assert not all(torch.equal(a, b) for a, b in zip(g_before, trainer.nets["G"].parameters()))
    trainer.recipe.plugins["latent_regression"].detach_from = ()  # without the freeze, E learns from it too
    trainer.run_phase(trainer.recipe.phase("G"), Step(trainer.batch_for(1), trainer.nets, trainer.recipe.products), 1)
    encoder = trainer.nets["E"]
    assert all(p.grad.abs().sum() > 0 for p in [*encoder.conv.parameters(), *encoder.mu.parameters()])
