"""The drit and dritpp recipes: trained on the demo styles, translation with codes and --style, their
phases and update counts, exact resume, batch and paper settings, divco dropped in."""
import itertools
import json
from functools import partial

import numpy as np
import pytest
import torch

from helpers import resume_matches_straight_run, tiny_trainer
from i2i_core.cli import main
from i2i_core.data import load_image, save_image
from i2i_core.demo import DemoDataset
from i2i_core.errors import ConfigError
from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.step import Step
from i2i_core.translate import load_translator

# The test split of demo:shapes-styles carries an int "style" that the sample grid cannot stack
# (i2i_core/visual.py); the grids here read training items instead.
GRID_ITEMS = DemoDataset("shapes-styles", split="train", length=4)
RECON_TERMS = ("self_recon", "cross_cycle")


tiny = partial(tiny_trainer, data="demo:shapes-styles", batch=None, log_every=3, save_every=10**6,
               sample_dataset=GRID_ITEMS)


def trained(tmp_path_factory, name, steps):
    out = tmp_path_factory.mktemp(name)
    trainer = tiny(name, out, steps)
    trainer.fit()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return out, trainer, rows


@pytest.fixture(scope="module")
def drit_run(tmp_path_factory):
    return trained(tmp_path_factory, "drit", 180)


@pytest.fixture(scope="module")
def dritpp_run(tmp_path_factory):
    return trained(tmp_path_factory, "dritpp", 180)


def window_mean(rows, key, which):
    values = [row[key] for row in rows if key in row]
    part = values[:10] if which == "first" else values[-10:]
    return sum(part) / len(part)


@pytest.mark.parametrize("run", ["drit_run", "dritpp_run"])
def test_recipe_trains_and_its_reconstructions_fall(run, request):
    out, trainer, rows = request.getfixturevalue(run)
    assert trainer.step == 180 and (out / "samples" / "latest.png").is_file()
    keys = {key for row in rows for key in row}
    assert ("mode_seeking" in keys) == (run == "dritpp_run")
    assert all(np.isfinite(v) for row in rows for v in row.values())
    for term in RECON_TERMS:
        first, last = window_mean(rows, term, "first"), window_mean(rows, term, "last")
        assert last < 0.85 * first, (term, first, last)


@pytest.mark.parametrize("run", ["drit_run", "dritpp_run"])
def test_trained_outputs_depend_on_the_code(run, request):
    _, trainer, _ = request.getfixturevalue(run)
    nets = {name: net.eval() for name, net in trainer.nets.items()}
    try:
        x = torch.stack([GRID_ITEMS[(i, 0)]["real_A"] for i in range(2)])
        for direction in ("AtoB", "BtoA"):
            translator = trainer.recipe.translator(direction)
            generator = torch.Generator().manual_seed(0)
            first, second = (translator.run(nets, x, translator.sample_code(2, generator, "cpu")) for _ in range(2))
            assert (first - second).abs().mean() > 0.01, direction
            again = translator.run(nets, x, translator.sample_code(2, torch.Generator().manual_seed(0), "cpu"))
            assert torch.equal(first, again)  # eval mode: no content noise, the code decides
    finally:
        for net in trainer.nets.values():
            net.train()


def test_translate_samples_and_style(drit_run, tmp_path):
    out, _, _ = drit_run
    test_items = DemoDataset("shapes-styles", split="test", length=16)
    source = test_items[(0, 0)]["real_A"]
    save_image(source, tmp_path / "in.png")
    assert main(["translate", "--checkpoint", str(out), "--input", str(tmp_path / "in.png"),
                 "--out", str(tmp_path / "samples"), "--samples", "3", "--seed", "1"]) == 0
    samples = [load_image(tmp_path / "samples" / f"in_{k}.png") for k in range(3)]
    assert all(s.shape == (3, 32, 32) for s in samples)
    assert (samples[0] - samples[1]).abs().mean() > 0.004 and (samples[1] - samples[2]).abs().mean() > 0.004
    # --style: the two B images whose attribute codes lie farthest apart, early in training
    translator, nets = load_translator(out)
    styles = torch.stack([test_items[(k, 0)]["real_B"] for k in range(16)])
    with torch.no_grad():
        codes = translator.style_code(nets, styles)
    pair = max(itertools.combinations(range(16), 2), key=lambda p: (codes[p[0]] - codes[p[1]]).norm())
    styled, direct = [], []
    for k in pair:
        save_image(styles[k], tmp_path / f"style{k}.png")
        assert main(["translate", "--checkpoint", str(out), "--input", str(tmp_path / "in.png"),
                     "--out", str(tmp_path / f"styled{k}"), "--style", str(tmp_path / f"style{k}.png")]) == 0
        styled.append(load_image(tmp_path / f"styled{k}" / "in.png"))
        # the same files as translate reads them (8-bit), so that only the output's rounding differs
        source_file, style_file = (load_image(tmp_path / name)[None] * 2 - 1 for name in ("in.png", f"style{k}.png"))
        with torch.no_grad():
            direct.append(translator.run(nets, source_file, translator.style_code(nets, style_file))[0] * 0.5 + 0.5)
    for got, want in zip(styled, direct):  # E_a's μ of the style image decides the output
        assert (got - want).abs().max() <= 1.5 / 255
    assert (styled[0] - styled[1]).abs().mean() > 0.002


def test_phases_and_update_counts(tmp_path):
    trainer = tiny("drit", tmp_path, 6)
    steps = {name: 0 for name in trainer.optimizers}
    for name, opt in trainer.optimizers.items():
        opt.register_step_post_hook(lambda *_, name=name: steps.__setitem__(name, steps[name] + 1))
    changed = {}
    run_phase = trainer.run_phase

    def watched(phase, step, iteration):
        before = {name: [p.detach().clone() for p in net.parameters()] for name, net in trainer.nets.items()}
        run_phase(phase, step, iteration)
        changed.setdefault(phase.name, set()).update(
            name for name, net in trainer.nets.items()
            if any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters())))

    trainer.run_phase = watched
    for iteration in range(6):
        trainer.train_step(trainer.batch_for(iteration), iteration)
    # d_iter 3: D_c every iteration, the rest every third; E_c and G twice per full iteration
    assert steps == {"content_adversarial": 6, "D": 2, "E_c": 4, "E_a": 2, "G": 4}
    assert changed == {"D_content": set(), "D": {"D_A", "D_A2", "D_B", "D_B2"}, "EG": {"E_c", "E_a", "G"},
                       "G": {"E_c", "G"}}  # E_a is never updated by the G phase's terms


def test_resume_is_exact(tmp_path):
    resume_matches_straight_run(lambda out, resume: tiny("dritpp", out, 6, log_every=2, resume=resume),
                                tmp_path, stop=4)
    rows = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in ("straight", "resumed")]
    assert rows[0][-1] == rows[1][-1]


def test_odd_batches_and_paper_settings(tmp_path):
    with pytest.raises(ConfigError, match="even batch"):
        tiny("drit", tmp_path, 3, sets={"data.batch_size": 3})
    recipe = build_recipe("drit", BuildOptions(image_size=64, preset="tiny"),
                          sets={**{f"nets.{d}.norm": "instance" for d in ("D_A", "D_A2", "D_B", "D_B2")},
                                **{f"nets.{d}.slope": 0.2 for d in ("D_A", "D_A2", "D_B", "D_B2")},
                                "content_adversarial.norm": "instance", "content_adversarial.slope": 0.2})
    d = recipe.nets["D_A"].build()
    # at 64² the third scale would leave the norm a 1×1 map, which cannot train: 2 scales, and they run
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in d.modules()) and len(d.Diss) == 2
    assert len(d.train()(torch.rand(2, 3, 64, 64))) == 2
    assert recipe.plugins["content_adversarial"].norm == "instance"
    step_names = Step({}, {}, recipe.products).names()
    assert {"fake_A_random2", "rec_A", "self_recon_B", "mu_random_A"} <= step_names


def test_drop_in_divco_trains_in_the_g_phase(tmp_path):
    assert main(["train", "drit", "--data", "demo", "--out", str(tmp_path), "--steps", "3", "--batch-size", "2",
                 "--image-size", "32", "--add", "divco", "--log-every", "3"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert np.isfinite(rows[-1]["divco"]) and rows[-1]["divco"] > 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["adds"] == ["divco"] and config["settings"]["divco.phases"] == {}  # joins the phase named G


def test_featurewise_variant_trains_translates_and_refuses_the_kl(tmp_path):
    """The reference's --concat 0 model: feature-wise G, deterministic E_a, an L2 on its codes."""
    featurewise = {"nets.G.kind": "drit_featurewise_generator", "nets.E_a.kind": "drit_featurewise_attribute_encoder"}
    with pytest.raises(ConfigError, match="without a log-variance.*set kl.weight=0"):
        tiny("drit", tmp_path / "with_kl", 3, sets=featurewise).fit()
    out = tmp_path / "featurewise"
    tiny("drit", out, 3, sets={**featurewise, "kl.weight": 0, "attribute_l2.weight": 0.01}).fit()
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert "kl" not in row and row["attribute_l2"] > 0 and np.isfinite(row["latent_regression"])
    translator, nets = load_translator(out)
    style = DemoDataset("shapes-styles", split="test", length=2)[(0, 0)]["real_B"][None]
    with torch.no_grad():
        code = translator.style_code(nets, style)
        assert code.shape == (1, 2) and torch.equal(code, translator.style_code(nets, style))
        assert translator.run(nets, style, code).shape == (1, 3, 32, 32)
