"""CycleGAN: the shared demo run lowers its cycle loss; the forward calls of one step; the
discriminators frozen in the generator phase."""
import json
from functools import partial

from helpers import SHARED_STEPS, read_metrics, tiny_trainer
from i2i_core.step import Step

tiny = partial(tiny_trainer, steps=2, log_every=1, save_every=1)


def test_shared_cyclegan_run_lowers_its_cycle_loss(cyclegan_demo_run):
    rows = read_metrics(cyclegan_demo_run)
    assert rows[0]["step"] == 1 and rows[-1]["step"] == SHARED_STEPS
    assert all(row["world_size"] == 1 for row in rows)
    assert {"adversarial", "adversarial/D", "cycle"} <= set(rows[-1]) and "identity" not in rows[-1]  # tiny: off
    assert rows[-1]["cycle"] < 0.5 * rows[0]["cycle"]
    assert (cyclegan_demo_run / "samples" / f"step_{SHARED_STEPS:07d}.png").is_file()
    config = json.loads((cyclegan_demo_run / "config.json").read_text())
    assert config["recipe"] == "cyclegan" and config["settings"]["nets.G_AB.ngf"] == 16


def test_cyclegan_forward_calls_per_step(tmp_path):
    trainer = tiny("cyclegan", tmp_path, sets={"identity.weight": 5.0})  # the tiny preset turns it off
    counts = {name: 0 for name in trainer.nets}
    for name, net in trainer.nets.items():
        net.register_forward_hook(lambda *_, name=name: counts.__setitem__(name, counts[name] + 1))
    trainer.train_step(trainer.batch_for(0), 0)
    # G: fake, reconstruction, identity; D: generator term, then real and pooled fake
    assert counts == {"G_AB": 3, "G_BA": 3, "D_A": 3, "D_B": 3}


def test_frozen_discriminators_get_no_gradient_in_the_generator_phase(tmp_path):
    trainer = tiny("cyclegan", tmp_path)
    step = Step(trainer.batch_for(0), trainer.nets, trainer.recipe.products, trainer.recipe.state)
    trainer.run_phase(trainer.recipe.phase("G"), step, 0)
    assert all(p.grad is None for p in trainer.nets["D_A"].parameters())
    assert all(p.grad is not None for p in trainer.nets["G_AB"].parameters())
