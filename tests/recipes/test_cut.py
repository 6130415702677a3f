"""CUT and FastCUT: the recipe's table, one G pass for fake and identity, training lowers the NCE
loss, exact resume with the lazily created projection heads, FastCUT's coin, translation."""
from functools import partial

import pytest
import torch
from PIL import Image

from helpers import read_metrics, resume_matches_straight_run, tiny_build, tiny_trainer
from i2i_core.cli import main
from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.step import Step

tiny = partial(tiny_trainer, sample_every=10 ** 6, resume="auto")


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cut")
    trainer = tiny("cut", out, steps=20, batch=4, log_every=10, save_every=20)
    head = trainer.recipe.plugins["patchnce"].modules()["G"]
    trainer.fit()
    return out, trainer, head


def test_paper_settings_follow_the_reference():
    for name, weight, identity, flip, decay, epochs in (("cut", 1.0, True, False, 0.5, 400),
                                                        ("fastcut", 10.0, False, True, 0.75, 200)):
        r = build_recipe(name, BuildOptions())
        nce = r.plugins["patchnce"]
        assert (nce.weight, nce.identity, nce.flip_equivariance) == (weight, identity, flip)
        assert (nce.layers, nce.num_patches, nce.temperature, nce.negatives_from_minibatch) == (
            ("padded_input", "down1_conv", "down2_conv", "res1", "res5"), 256, 0.07, False)
        assert (r.schedule.decay_start, r.data.epochs, r.data.batch_size) == (decay, epochs, 1)
        assert [p.name for p in r.phases] == ["D", "G"] and r.phase("G").optimizers == ("G", "F")
        assert r.phase("G").frozen == ("D",) and r.plugins["adversarial"].mode == "lsgan"
        assert all(spec.init == "xavier" and spec.init_gain == 0.02 and spec.kwargs["antialias"]
                   for spec in r.nets.values())
        assert r.nets["G"].kwargs["n_blocks"] == 9 and not r.state


def test_one_generator_pass_serves_fake_and_identity(tmp_path):
    trainer = tiny("cut", tmp_path, steps=1)
    inputs = []
    trainer.nets["G"].register_forward_hook(lambda module, args, out: inputs.append(args[0].shape[0]))
    step = trainer.train_step(trainer.batch_for(0), 0)
    assert inputs == [4]  # cat([real_A, real_B]): one forward; the NCE taps use encode
    assert step.idt_B.shape == step.real_B.shape and not step.flipped
    evaluation = Step(trainer.batch_for(0), trainer.nets, trainer.recipe.products, training=False)
    assert evaluation.idt_B is None and evaluation.fake_B.shape == evaluation.real_A.shape


def test_a_short_tiny_run_lowers_the_nce_loss(cut_run):
    out, _, _ = cut_run
    values = [row["patchnce"] for row in read_metrics(out)]
    assert [row["step"] for row in read_metrics(out)] == [1, 10, 20]
    assert values[-1] < 0.75 * values[0], values


def test_projection_head_is_created_once_and_checkpointed(cut_run):
    _, trainer, head = cut_run
    assert trainer.recipe.plugins["patchnce"].modules()["G"] is head  # the same module through every step
    state = torch.load(trainer.out / "checkpoints" / "latest.pt", weights_only=True)
    saved = state["plugins"]["patchnce"]["G"]
    assert set(saved) == {f"mlp_{i}.{j}.{p}" for i in range(5) for j in (0, 2) for p in ("weight", "bias")}
    assert all(torch.equal(saved[k], v) for k, v in head.state_dict().items())
    assert "F" in state["optimizers"]


def test_translate_a_cut_run(cut_run, tmp_path):
    out, _, _ = cut_run
    Image.new("RGB", (40, 24), (200, 120, 40)).save(tmp_path / "photo.png")
    assert main(["translate", "--checkpoint", str(out), "--input", str(tmp_path / "photo.png"),
                 "--out", str(tmp_path / "translated")]) == 0
    assert Image.open(tmp_path / "translated" / "photo.png").size == (40, 24)


@pytest.mark.parametrize("name", ["cut", "fastcut"])
def test_resume_is_exact_with_the_projection_heads(tmp_path, name):
    straight, _ = resume_matches_straight_run(lambda out, resume: tiny(name, out, steps=4), tmp_path, stop=2)
    assert set(straight.modules) == {"G", "D", "patchnce.G"}


def test_fastcut_tosses_a_coin_and_mirrors_the_generator_input(tmp_path):
    trainer = tiny("fastcut", tmp_path, steps=1)
    batch = trainer.batch_for(0)
    torch.manual_seed(0)
    seen = set()
    with torch.no_grad():
        for _ in range(12):
            step = Step(batch, trainer.nets, trainer.recipe.products)
            x = step.real_A.flip(-1) if step.flipped else step.real_A
            torch.testing.assert_close(step.fake_B, trainer.nets["G"](x))
            assert step.idt_B is None  # no identity pass in FastCUT
            seen.add(bool(step.flipped))
    assert seen == {True, False}
    assert not Step(batch, trainer.nets, trainer.recipe.products, training=False).flipped
    trainer.fit()
    assert read_metrics(tmp_path)[-1]["patchnce"] > 0


def test_fastcut_without_flip_equivariance_never_flips():
    recipe = build_recipe("fastcut", tiny_build(), sets={"patchnce.flip_equivariance": False})
    assert "flipped" not in recipe.plugins["patchnce"].reads()
    batch = {"real_A": torch.zeros(1, 3, 32, 32), "real_B": torch.zeros(1, 3, 32, 32)}
    torch.manual_seed(0)  # the seed under which the coin shows both sides above
    assert not any(Step(batch, {}, recipe.products).flipped for _ in range(12))


def nce_loss_and_grads(trainer, batch, products, seed=0):
    """PatchNCE's G term on ``batch`` and its gradients for G's and the head's parameters; the
    patch locations drawn from ``seed``."""
    torch.manual_seed(seed)
    step = Step(batch, trainer.nets, products)
    loss = trainer.recipe.plugins["patchnce"].loss(step, "G")
    params = list(trainer.nets["G"].parameters()) + list(trainer.recipe.plugins["patchnce"].modules()["G"].parameters())
    return step, loss, torch.autograd.grad(loss, params)


def test_keys_from_the_generator_pass_give_the_encode_loss_and_gradients(tmp_path):
    """The fast path (PatchNCE's keys are the maps of G's one pass on cat([real_A, real_B])) against
    the straightforward one (encode real_A and real_B on their own): the same loss, the same
    gradients, and the maps of each image are that image's, not its neighbour's or the other domain's."""
    trainer = tiny("cut", tmp_path, steps=1, batch=3)
    batch = trainer.batch_for(0)
    assert not torch.equal(batch["real_A"][0], batch["real_A"][1])
    net, taps = trainer.nets["G"], trainer.recipe.plugins["patchnce"].tap_layers("G")
    encodes = []
    original_encode = net.encode
    net.encode = lambda x, layers: encodes.append(x.shape[0]) or original_encode(x, layers)
    fast_step, fast_loss, fast_grads = nce_loss_and_grads(trainer, batch, trainer.recipe.products)
    assert encodes == [3, 3]  # the two queries (fake_B, idt_B); no pass for the keys
    for source in ("real_A", "real_B"):
        recorded = fast_step[f"G_taps_{source}"]
        with torch.no_grad():
            alone = [original_encode(image[None], taps) for image in batch[source]]  # one image at a time
        for layer, maps in enumerate(recorded):
            assert maps.shape[0] == 3
            for i in range(3):
                torch.testing.assert_close(maps[i:i + 1], alone[i][layer], rtol=1e-4, atol=1e-5)

    def without_recorded_keys(fn):
        return lambda s: fn(s)[:2] + (None, None)

    plain = {key: without_recorded_keys(fn) if "fake_B" in key else fn for key, fn in trainer.recipe.products.items()}
    encodes.clear()
    _, plain_loss, plain_grads = nce_loss_and_grads(trainer, batch, plain)
    assert encodes == [3, 3, 3, 3]  # key and query of each path
    torch.testing.assert_close(fast_loss, plain_loss, rtol=1e-6, atol=1e-7)
    for fast, slow in zip(fast_grads, plain_grads):
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-7)
    # the check can fail: keys of the other domain, or of the images in another order, change the loss
    swapped = {key: (lambda s, fn=fn: (*fn(s)[:2], fn(s)[3], fn(s)[2])) if "fake_B" in key else fn
               for key, fn in trainer.recipe.products.items()}
    rolled = {key: (lambda s, fn=fn: (*fn(s)[:2], [m.roll(1, 0) for m in fn(s)[2]], fn(s)[3])) if "fake_B" in key
              else fn for key, fn in trainer.recipe.products.items()}
    for wrong in (swapped, rolled):
        _, loss, _ = nce_loss_and_grads(trainer, batch, wrong)
        assert (loss - plain_loss).abs() > 1e-3


def test_fastcut_records_keys_only_when_the_input_is_not_mirrored(tmp_path):
    trainer = tiny("fastcut", tmp_path, steps=1)
    batch = trainer.batch_for(0)
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        step = Step(batch, trainer.nets, trainer.recipe.products)
        recorded = step["G_taps_real_A"]
        assert (recorded is None) == bool(step.flipped) and step["G_taps_real_B"] is None
        seen.add(bool(step.flipped))
    assert seen == {True, False}
    evaluation = Step(batch, trainer.nets, trainer.recipe.products, training=False)
    assert evaluation["G_taps_real_A"] is None
