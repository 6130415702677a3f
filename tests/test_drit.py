"""DRIT / DRIT++: networks (spec §2.1–§2.2), the cross_cycle and code_l2 plugins, the recipes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from helpers import n_params, stop_after, tiny_trainer
from i2i_core.nets.drit import (AttributeEncoder, ConcatGenerator, ContentDiscriminator, ContentEncoder,
                                MultiScaleDiscriminator, content_discriminator_layout)
from i2i_plugins.code_l2 import code_l2_loss
from i2i_plugins.cross_cycle import CrossCycle, cross_cycle_loss


# -- networks ----------------------------------------------------------------------------------

def test_reference_parameter_counts():
    assert n_params(ContentEncoder()) == 9_018_112
    assert n_params(AttributeEncoder()) == 2_688_160
    assert n_params(ConcatGenerator()) == 9_564_710
    assert n_params(MultiScaleDiscriminator()) == 8_271_171
    # the reference's content D exists only for content maps of 53–60 (crops 212–240) ...
    for size in range(53, 61):
        assert content_discriminator_layout(size) == (3, 4)
    assert n_params(ContentDiscriminator(size=54)) == 10_683_649
    # ... elsewhere the final kernel covers what the stride-2 convs leave
    assert n_params(ContentDiscriminator(size=64)) == 11_273_473


def test_reference_key_layouts():
    keys = set(ContentEncoder().state_dict())
    assert {"conv_share.0.model.1.weight", "conv_share.0.model.5.weight", "convA.0.model.1.weight",
            "convA.2.model.1.weight", "convA.5.model.5.weight", "convB.3.model.1.bias"} <= keys
    keys = set(ConcatGenerator().state_dict())
    assert {"dec_share.0.model.1.weight", "decA1.2.model.5.weight", "decA2.0.model.0.weight", "decB4.0.weight"} <= keys
    assert ConcatGenerator().state_dict()["decA3.0.model.1.weight"].shape == (72, 1, 1)
    keys = set(MultiScaleDiscriminator().state_dict())
    assert {f"Diss.{s}.{k}.model.1.weight" for s in range(3) for k in range(4)} | {"Diss.2.4.weight"} <= keys
    assert set(ContentDiscriminator().state_dict()) == {f"model.{k}.model.1.{p}" for k in range(4) for p in
                                                        ("weight", "bias")} | {"model.4.weight", "model.4.bias"}


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(size):
    torch.manual_seed(0)
    x = torch.rand(2, 3, size, size) * 2 - 1
    e_c, e_a = ContentEncoder(ngf=8, n_res=1), AttributeEncoder(ndf=8, nz=8)
    g = ConcatGenerator(content_channels=32, nz=8, n_res=1)
    content = e_c(x, "A")
    assert content.shape == (2, 32, size // 4, size // 4)
    mu, logvar = e_a(x, "B")
    assert mu.shape == logvar.shape == (2, 8)
    out = g(content, mu, "B")
    assert out.shape == x.shape and out.abs().max() <= 1
    maps = MultiScaleDiscriminator(ndf=4, image_size=size)(x)
    assert [m.shape[-1] for m in maps] == ([2, 1] if size == 32 else [4, 2, 1])  # no scale below 16²
    with pytest.raises(ValueError, match="64-channel content"):
        ConcatGenerator(content_channels=64, nz=8, n_res=1)(content, mu, "A")


@pytest.mark.parametrize("image_size", [32, 64, 128, 216, 256, 512])
def test_content_discriminator_gives_one_value_per_sample(image_size):
    content = torch.randn(3, 4, image_size // 4, image_size // 4)
    d_c = ContentDiscriminator(in_channels=4, width=4, size=image_size // 4)
    assert d_c(content).shape == (3,)
    with pytest.raises(ValueError, match="content discriminator built for"):
        d_c(torch.randn(3, 4, image_size // 2, image_size // 2))


def test_content_noise_only_while_training():
    torch.manual_seed(0)
    e_c, x = ContentEncoder(ngf=8, n_res=1), torch.rand(1, 3, 32, 32)
    e_c.train()
    first, second = e_c(x, "A"), e_c(x, "A")
    assert (first - second).std().item() == pytest.approx(2 ** 0.5, rel=0.1)  # two N(0, 1) draws
    e_c.eval()
    assert torch.equal(e_c(x, "A"), e_c(x, "A"))
    assert (first - e_c(x, "A")).std().item() == pytest.approx(1.0, rel=0.1)


def test_initialisation_and_discriminator_options():
    torch.manual_seed(0)
    g, e_a = ConcatGenerator(), AttributeEncoder()
    conv_t = g.decA2[0].model[0]
    assert conv_t.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert conv_t.bias.abs().max() > 0  # biases keep PyTorch's default (uniform), not zero
    fc = e_a.fc_A[0]  # Linear keeps PyTorch's default: uniform in ±1/√fan_in
    assert fc.weight.abs().max().item() <= 1 / 256 ** 0.5 and fc.weight.std().item() > 0.03
    assert torch.equal(g.decA2[0].model[1].weight, torch.ones(136, 1, 1))
    plain = MultiScaleDiscriminator(ndf=4, image_size=64)
    paper = MultiScaleDiscriminator(ndf=4, image_size=64, norm="instance", slope=0.2)
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in paper.modules()) == 12
    assert {m.negative_slope for m in plain.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.01}
    assert {m.negative_slope for m in paper.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.2}


# -- cross_cycle and code_l2 -------------------------------------------------------------------

images = arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
                elements=st.floats(-1, 1, width=32))


@settings(max_examples=40, deadline=None)
@given(x=images, y=images)
def test_cross_cycle_property_mean_absolute_error(x, y):
    a = torch.from_numpy(x)
    assert cross_cycle_loss(a, a).item() == 0
    if x.shape == y.shape:
        b = torch.from_numpy(y)
        want = float(np.abs(x.astype(np.float64) - y).mean())
        assert cross_cycle_loss(a, b).item() == pytest.approx(want, rel=1e-5, abs=1e-6)
        assert cross_cycle_loss(a, b).item() == pytest.approx(cross_cycle_loss(b, a).item(), abs=1e-7)
    else:  # a half batch against a full one must not broadcast silently
        with pytest.raises(ValueError, match="one shape"):
            cross_cycle_loss(a, torch.from_numpy(y))


@settings(max_examples=20, deadline=None)
@given(x=images, y=images)
def test_cross_cycle_property_sums_both_directions(x, y):
    torch.manual_seed(0)
    a, b = torch.from_numpy(x), torch.from_numpy(y)
    from i2i_core.step import Step

    step = Step({"rec_A": a, "real_A_encoded": torch.zeros_like(a), "rec_B": b, "real_B_encoded": b * 0.5}, {}, {})
    want = a.abs().mean() + (b * 0.5).abs().mean()
    assert CrossCycle().loss(step, "G").item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(x=images, k=st.floats(0, 4))
def test_code_l2_property_mean_square_and_scaling(x, k):
    c = torch.from_numpy(x)
    assert code_l2_loss(c).item() == pytest.approx(float((x.astype(np.float64) ** 2).mean()), rel=1e-5, abs=1e-7)
    assert code_l2_loss(k * c).item() == pytest.approx(k * k * code_l2_loss(c).item(), rel=1e-4, abs=1e-6)
    assert code_l2_loss(-c).item() == pytest.approx(code_l2_loss(c).item())


# -- recipes -----------------------------------------------------------------------------------

import itertools  # noqa: E402
import json  # noqa: E402
from functools import partial  # noqa: E402

from i2i_core.cli import main  # noqa: E402
from i2i_core.data import load_image, save_image  # noqa: E402
from i2i_core.demo import DemoDataset  # noqa: E402
from i2i_core.errors import ConfigError  # noqa: E402
from i2i_core.recipe import BuildOptions, build_recipe  # noqa: E402
from i2i_core.step import Step  # noqa: E402
from i2i_core.translate import load_translator  # noqa: E402
from i2i_core.training import Interrupted  # noqa: E402

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
        direct = [translator.run(nets, source[None], codes[k:k + 1])[0] * 0.5 + 0.5 for k in pair]
    styled = []
    for k in pair:
        save_image(styles[k], tmp_path / f"style{k}.png")
        assert main(["translate", "--checkpoint", str(out), "--input", str(tmp_path / "in.png"),
                     "--out", str(tmp_path / f"styled{k}"), "--style", str(tmp_path / f"style{k}.png")]) == 0
        styled.append(load_image(tmp_path / f"styled{k}" / "in.png"))
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
    straight = tiny("dritpp", tmp_path / "straight", 6, log_every=2)
    straight.fit()
    first = tiny("dritpp", tmp_path / "resumed", 6, log_every=2)
    with stop_after(4), pytest.raises(Interrupted):
        first.fit()
    second = tiny("dritpp", tmp_path / "resumed", 6, log_every=2, resume=True)
    assert second.step == 4
    second.fit()
    for name, module in straight.modules.items():
        for (key, a), b in zip(module.state_dict().items(), second.modules[name].state_dict().values()):
            assert torch.equal(a, b), f"{name}.{key} differs after resume"
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
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in d.modules()) and len(d.Diss) == 3
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
