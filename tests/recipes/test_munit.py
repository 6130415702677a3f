"""The ``munit`` recipe trained on the styled demo: its reconstruction terms fall, codes change the
output, translation with samples and --style, exact resume, diversity plugins dropped in."""
import math

import pytest
import torch

from helpers import read_metrics, resume_matches_straight_run, tiny_trainer
from i2i_core.cli import main
from i2i_core.data import load_image, open_dataset, save_image
from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.step import Step

STEPS = 80  # the shortest seeded run in which all three reconstruction terms fall by 5% or more


def styled_demo(split="train"):
    return open_dataset("demo:shapes-styles", paired=False, phase=split, image_size=32)


def trainer_for(out, steps, sets=None, adds=None, resume=False, batch=8):
    # Sample grids read the training split: the test split's items carry an int ``style`` that
    # i2i_core.visual.sample_grid cannot stack (reported; not ours to change).
    return tiny_trainer("munit", out, steps, data="demo:shapes-styles", batch=batch, sets=sets, adds=adds,
                        resume=resume, log_every=10, save_every=steps, sample_dataset=styled_demo())


@pytest.fixture(scope="module")
def munit_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("munit") / "run"
    trainer = trainer_for(out, STEPS)
    trainer.fit()
    return out, trainer


def test_munit_trains_without_nan_and_its_reconstruction_terms_fall(munit_run):
    out, _ = munit_run
    rows = read_metrics(out)
    assert rows[-1]["step"] == STEPS
    assert all(math.isfinite(v) for row in rows for v in row.values())
    first, last = rows[0], rows[-1]
    for term in ("recon_image", "recon_style", "recon_content"):
        assert last[term] < 0.95 * first[term], (term, first[term], last[term])
    assert (out / "samples" / "latest.png").is_file()


def test_trained_munit_gives_different_outputs_for_different_codes(munit_run):
    _, trainer = munit_run
    translator = trainer.recipe.translator("AtoB")
    nets = {name: trainer.nets[name].eval() for name in translator.nets}
    x = torch.stack([styled_demo("test")[(i, 0)]["real_A"] for i in range(8)])
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        code = translator.sample_code(8, generator, "cpu")
        # z and −z: with the tiny preset's 2-dimensional code two independent draws can fall close
        first, second = translator.run(nets, x, code), translator.run(nets, x, -code)
        again = translator.run(nets, x, translator.sample_code(8, torch.Generator().manual_seed(0), "cpu"))
    per_input = (first - second).abs().flatten(1).mean(1)
    assert per_input.min() > 0.05 and per_input.mean() > 0.15, per_input
    assert torch.equal(first, again)  # the code, and nothing else, makes the difference


def write_demo_png(path, split, index, domain):
    save_image(styled_demo(split)[(index, 0)][domain], path)
    return path


def test_translate_samples_and_style_from_a_trained_run(munit_run, tmp_path, capsys):
    out, trainer = munit_run
    source = write_demo_png(tmp_path / "in" / "scene.png", "test", 0, "real_A")
    assert main(["translate", "--checkpoint", str(out), "--input", str(source), "--out", str(tmp_path / "samples"),
                 "--samples", "3"]) == 0
    samples = [load_image(tmp_path / "samples" / f"scene_{k}.png") for k in range(3)]
    assert all((a - b).abs().mean() > 0.01 for i, a in enumerate(samples) for b in samples[i + 1:])

    nets = {name: net.eval() for name, net in trainer.nets.items()}
    x = load_image(source)[None] * 2 - 1
    results = []
    for k, index in enumerate((1, 2)):
        style = write_demo_png(tmp_path / f"style{k}.png", "test", index, "real_B")
        target = tmp_path / f"styled{k}"
        assert main(["translate", "--checkpoint", str(out), "--input", str(source), "--out", str(target),
                     "--style", str(style)]) == 0
        results.append(load_image(target / "scene.png"))
        with torch.no_grad():  # B's decoder renders A's content with the style B's encoder reads
            code = nets["G_B"].encode_style(load_image(style)[None] * 2 - 1)
            want = (nets["G_B"].decode(nets["G_A"].encode_content(x), code)[0] + 1) / 2
        assert (results[-1] - want).abs().max() < 2 / 255
    assert (results[0] - results[1]).abs().mean() > 0.01
    capsys.readouterr()


def test_munit_resumes_exactly(tmp_path):
    sets = {"schedule.policy": "step"}  # the reference schedule: the lr changes at every step here
    straight, resumed = resume_matches_straight_run(
        lambda out, resume: trainer_for(out, 4, sets, batch=2, resume=resume), tmp_path, stop=2)
    for name, opt in straight.optimizers.items():
        assert opt.param_groups[0]["lr"] == resumed.optimizers[name].param_groups[0]["lr"] == 1e-4 * 0.5 ** 3
    assert read_metrics(tmp_path / "straight")[-1] == read_metrics(tmp_path / "resumed")[-1]


@pytest.mark.parametrize("plugin", ["mode_seeking", "divco"])
def test_diversity_plugins_drop_into_munit(plugin, tmp_path):
    trainer = trainer_for(tmp_path, 2, adds=[plugin], batch=2)
    trainer.fit()
    row = read_metrics(tmp_path)[-1]
    assert math.isfinite(row[plugin]) and row["step"] == 2


def test_divco_in_munit_trains_the_decoder_but_not_the_style_encoder_that_judges():
    recipe = build_recipe("munit", BuildOptions(image_size=32, preset="tiny"), adds=["divco"])
    torch.manual_seed(0)
    nets = {name: spec.build() for name, spec in recipe.nets.items()}
    step = Step({"real_A": torch.rand(2, 3, 32, 32) * 2 - 1, "real_B": torch.rand(2, 3, 32, 32) * 2 - 1},
                nets, recipe.products, translators=recipe.translator)
    recipe.plugins["divco"].loss(step, "G").backward()
    got = {f"{net}.{part}": any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(nets[net], part).parameters())
           for net in ("G_A", "G_B") for part in ("enc_style", "enc_content", "dec", "mlp")}
    assert {k for k, v in got.items() if v} == {"G_A.enc_content", "G_B.dec", "G_B.mlp"}


def test_style_augmented_cycle_products_are_computed_only_when_its_weight_is_positive(tmp_path):
    for weight in (0, 10):
        trainer = trainer_for(tmp_path / str(weight), 1, {"cycle.weight": weight}, batch=2)
        computed = []

        def counted(key, fn):
            return lambda step: computed.append(key) or fn(step)

        trainer.recipe.products = {key: counted(key, fn) for key, fn in trainer.recipe.products.items()}
        trainer.train_step(trainer.batch_for(0), 0)
        assert (("rec_A",) in computed) == (("rec_B",) in computed) == (weight > 0)
        assert computed.count(("fake_A_for_D", "fake_B_for_D")) == 1 and computed.count(("fake_B",)) == 1
