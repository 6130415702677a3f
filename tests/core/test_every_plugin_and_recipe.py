"""Registry-driven tests: every registered loss plugin and recipe is tested here without anyone
writing a test for it by hand (as timm does for models)."""
from functools import partial

import pytest
import torch

from helpers import tiny_trainer
from i2i_core import plugins as registry
from i2i_core.hooks import hookimpl
from i2i_plugins.testing import example_step  # random images, or the example a plugin registers there
from i2i_plugins.r1 import R1

LOSSES = sorted(registry.losses())
RECIPES = sorted(registry.recipes())


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_plugin_gives_finite_scalars_and_gradients(name):
    plugin = registry.get_loss(name)()
    step = example_step(plugin)
    for role in plugin.roles:
        value = plugin.loss(step, role)
        assert value.dim() == 0 and value.dtype == torch.float32 and torch.isfinite(value), (name, role)
        if role == "G":
            inputs = [step[n] for n in plugin.reads() if isinstance(step[n], torch.Tensor) and step[n].requires_grad]
            grads = torch.autograd.grad(value, inputs, allow_unused=True)
            assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{name}: no gradient reaches its inputs"


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_plugin_validates_its_fields(name):
    cls = registry.get_loss(name)
    with pytest.raises((TypeError, ValueError)):
        cls(weight=-1.0)
    assert cls.name == name and cls.roles


tiny = partial(tiny_trainer, steps=2, log_every=1, save_every=1)


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_builds_trains_and_round_trips_its_checkpoint(name, tmp_path):
    trainer = tiny(name, tmp_path, steps=2)
    trainer.fit()
    assert (tmp_path / "samples" / "latest.png").is_file()
    restored = tiny(name, tmp_path, steps=3, resume=True)
    assert restored.step == 2
    for net_name, net in trainer.nets.items():
        for a, b in zip(net.state_dict().values(), restored.nets[net_name].state_dict().values()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_computes_each_product_at_most_once_per_step(name, tmp_path):
    trainer = tiny(name, tmp_path)
    calls = {}

    def counted(key, fn):
        def wrapper(step):
            calls[key] = calls.get(key, 0) + 1
            return fn(step)
        return wrapper

    trainer.recipe.products = {key: counted(key, fn) for key, fn in trainer.recipe.products.items()}
    trainer.train_step(trainer.batch_for(0), 0)
    assert calls and max(calls.values()) == 1, calls


def test_event_hooks_fire(tmp_path):
    events = []

    class Recorder:
        @hookimpl
        def i2i_train_start(self, trainer):
            events.append("start")

        @hookimpl
        def i2i_step_end(self, trainer, step, logged):
            events.append(("step", step, logged is not None))

        @hookimpl
        def i2i_checkpoint_saved(self, trainer, path):
            events.append("saved")

        @hookimpl
        def i2i_checkpoint_loaded(self, trainer, path):
            events.append("loaded")

        @hookimpl
        def i2i_train_end(self, trainer, status):
            events.append(("end", status))

        @hookimpl
        def i2i_metrics(self):
            return {"recorder_metric": lambda real, fake: 0.0}

    recorder = Recorder()
    registry.plugin_manager().register(recorder)
    registry._metrics.cache_clear()
    try:
        assert "recorder_metric" in registry.metrics()
        tiny("pix2pix", tmp_path, steps=2).fit()
        tiny("pix2pix", tmp_path, steps=3, resume=True)
    finally:
        registry.plugin_manager().unregister(recorder)
        registry._metrics.cache_clear()
    assert events[:3] == ["start", "saved", ("step", 1, True)]
    assert ("end", "done") in events and events[-1] == "loaded"


def forward_counts(trainer, iteration: int) -> dict:
    """Calls per network in one training step; a network only ever called through its methods
    (MUNIT's encode/decode) is counted by its parts."""
    counts: dict = {}

    def count(key):
        return lambda *_: counts.__setitem__(key, counts.get(key, 0) + 1)

    hooks = []
    for name, net in trainer.nets.items():
        hooks.append(net.register_forward_hook(count(name)))
        hooks += [child.register_forward_hook(count(f"{name}.{part}")) for part, child in net.named_children()]
    try:
        trainer.train_step(trainer.batch_for(iteration), iteration)
    finally:
        for hook in hooks:
            hook.remove()
    return {key: n for key, n in counts.items()
            if "." not in key or key.split(".")[0] not in counts}


# Forward calls per step (iteration 2: DRIT's full iteration). D: one call in the G phase, then
# real and fake in the D phase; a D that judges two fakes against the same real (msgan, D2 of
# dritpp) judges the real once, and R1 (sincut) reuses the adversarial loss's D(real); MUNIT's
# third decode is the reference's fresh-style D-step fakes; DRIT's G phase recomputes its products
# after the EG step (recipe docstrings).
FORWARDS = {
    "bicyclegan": {"D": 3, "D2": 3, "E": 2, "G": 1},  # G once on the encoded and random halves together
    "cut": {"D": 3, "G": 1},  # G once on cat(real_A, real_B)
    "cyclegan": {"D_A": 3, "D_B": 3, "G_AB": 2, "G_BA": 2},  # fake, reconstruction (tiny: no identity)
    "divco": {"D": 3, "D2": 3, "E": 3, "G": 2},  # + DivCo's K + 2 outputs and their style codes
    "drit": {"D_A": 3, "D_A2": 3, "D_B": 3, "D_B2": 3, "E_a": 6, "E_c": 6, "G": 8},
    "dritpp": {"D_A": 3, "D_A2": 5, "D_B": 3, "D_B2": 5, "E_a": 6, "E_c": 6, "G": 12},
    "fastcut": {"D": 3, "G": 1},
    "msgan": {"D": 5, "G": 1},  # G once on both codes
    "munit": {"D_A": 3, "D_B": 3, "G_A.enc_content": 2, "G_A.enc_style": 2, "G_A.mlp": 3, "G_A.dec": 3,
              "G_B.enc_content": 2, "G_B.enc_style": 2, "G_B.mlp": 3, "G_B.dec": 3},
    "pix2pix": {"D": 3, "G": 1},
    "sincut": {"D": 3, "G": 1},
}


@pytest.mark.parametrize("name", RECIPES)
def test_forward_calls_per_step_of_every_recipe(name, tmp_path):
    if name not in FORWARDS:
        pytest.skip(f"{name}: no forward-call table (a recipe from another distribution)")
    assert forward_counts(tiny(name, tmp_path), 2) == FORWARDS[name]


@pytest.mark.parametrize("name", RECIPES)
def test_r1_drops_into_every_recipe_with_a_discriminator_and_penalises_each(name, tmp_path):
    trainer = tiny(name, tmp_path, adds=["r1"])
    judged = trainer.recipe.judgements()
    if not judged:
        pytest.skip(f"{name} trains no discriminator")
    r1 = next(p for p in trainer.plugins.values() if isinstance(p, R1) and not p.discriminator)
    assert {key for key in r1.input_gradients(0)} == {j.key for j in judged}  # every one, as the recipe calls it
    trainer.train_step(trainer.batch_for(2), 2)  # iteration 2 runs every phase (DRIT's D steps every 3rd)
    penalty = trainer.logbook.sums[next(k for k in trainer.logbook.sums if k.startswith("r1") and k.endswith("/D"))]
    assert torch.isfinite(penalty) and penalty > 0
