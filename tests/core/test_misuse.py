"""Misuse and faults a hostile user met (issue 15): each gives one line naming what is at fault and
exit status 2, never a traceback, and leaves nothing half-written behind."""
import errno
import json
import subprocess
import sys

import attrs
import numpy as np
import pytest
import torch
from PIL import Image

from i2i_core import checkpoint
from i2i_core.data import DataError, Preprocess, UnalignedFolders
from i2i_core import plugins as registry
from i2i_core.errors import WriteError
from i2i_core.hooks import hookimpl
from i2i_core.loss import LossPlugin
from i2i_core.recipe import BuildOptions

from helpers import cli, expect_cli_error, tiny_trainer

TRAIN = ("train", "cyclegan", "--data", "demo", "--steps", "1")


@pytest.mark.parametrize("option, match", [
    (["--set", "nets.G_AB.ngf=0"], "nets.G_AB.ngf = 0"),
    (["--set", "nets.G_AB.ngf=-4"], "nets.G_AB.ngf must be >= 0, got -4"),
    (["--set", "nets.D_A.norm=foo"], "nets.D_A (patchgan) cannot be built from its settings: unknown norm 'foo'"),
    (["--set", "adversarial.mode=foo"], "adversarial.mode: 'mode' must be in ('lsgan'"),
    (["--add", "r1:gamma=-1"], "plugin 'r1': 'gamma' must be >= 0"),
    (["--device", "gpu"], "--device 'gpu' is not a device"),
    (["--set", "cycle.pairs=5"], 'cycle.pairs expects a JSON list such as [["rec_A", "real_A"], ["rec_B", "real_B"]]'),
    (["--set", "optim.betas=5"], "optim.betas expects a JSON list such as [0.5, 0.999]"),
])
def test_bad_network_settings_and_devices_are_one_line(capsys, tmp_path, option, match):
    err = expect_cli_error(capsys, *TRAIN, "--out", tmp_path / "run", *option, match=match)
    assert "Attribute(" not in err  # attrs' repr of the field
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("recipe, option, match", [
    ("bicyclegan", ["--set", "nets.G.nz=3"], "nets.G.nz=3, nets.E.nz=2 differ; G takes the codes that E gives"),
    ("divco", ["--set", "nets.E.nz=5"], "nets.G.nz=2, nets.E.nz=5 differ"),
    ("drit", ["--set", "nets.E_a.nz=3"], "nets.G.nz=2, nets.E_a.nz=3 differ"),
    ("drit", ["--set", "nets.E_c.ngf=8"], "nets.G.content_channels=64 but the content encoder gives 4 × nets.E_c.ngf"),
    ("dritpp", ["--set", "nets.E_a.kind=drit_featurewise_attribute_encoder"],
     "codes without a log-variance, so kl.weight=0.1 has nothing to act on; set kl.weight=0"),
    ("drit", ["--set", "nets.E_a.kind=drit_featurewise_attribute_encoder", "--set", "kl.weight=0",
              "--add", 'kl:pairs=[[mu_A,logvar_A]],phases={"G":"EG"}'], "so kl_2.weight=1 has nothing to act on"),
])
def test_settings_that_must_agree_are_refused_before_the_run_starts(capsys, tmp_path, recipe, option, match):
    """Once failing as a shape error at the first step that read them (DRIT's at step 3)."""
    expect_cli_error(capsys, "train", recipe, "--data", "demo:shapes-styles", "--steps", "1",
                     "--out", tmp_path / "run", *option, match=[f"recipe {recipe!r}", match])
    assert not (tmp_path / "run").exists()


def test_an_out_that_cannot_be_a_run_folder_is_refused(capsys, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    expect_cli_error(capsys, *TRAIN, "--out", tmp_path / "a_file", match="a_file is a file; a run goes into a folder")
    expect_cli_error(capsys, *TRAIN, "--out", tmp_path / "a_file" / "run", match="a_file is a file")
    # Tests may run as root, which writes anywhere: the permission check is what is tested.
    monkeypatch.setattr("os.access", lambda path, mode: str(path) != str(tmp_path / "locked"))
    (tmp_path / "locked").mkdir()
    expect_cli_error(capsys, *TRAIN, "--out", tmp_path / "locked" / "run", match="locked is not writable")


def test_resume_with_an_empty_config_is_one_line(capsys, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("")
    expect_cli_error(capsys, *TRAIN, "--out", tmp_path / "run", "--resume", match="config.json is not valid JSON")


def test_a_full_disk_is_named_in_one_line_and_leaves_no_temporary(tmp_path):
    def fill_disk(f):  # what torch.save does on ENOSPC: its zip writer fails while handling the OSError
        f.write(b"partial")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 282880 vs 282832")

    with pytest.raises(WriteError, match="latest.pt: No space left on device .temporary file removed"):
        checkpoint.write_atomic(tmp_path / "latest.pt", fill_disk)
    assert list(tmp_path.iterdir()) == []


def test_a_run_removes_the_temporaries_of_interrupted_saves(tmp_path):
    stale = tmp_path / "run" / "checkpoints" / ".latest.pt.x1y2.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a checkpoint")
    tiny_trainer("cyclegan", tmp_path / "run", 1).fit()
    assert not stale.exists() and (stale.parent / "latest.pt").is_file()


def test_a_closed_pipe_ends_the_listing_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "i2i_core", "recipes", "cyclegan"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # `| head` that has read enough, before i2i writes anything
    _, err = proc.communicate(timeout=60)
    assert err == b"" and proc.returncode == 141  # 128 + SIGPIPE, as a program killed by it


@attrs.define(kw_only=True, eq=False)
class Unconditioned(LossPlugin):
    """A third party's penalty that calls pix2pix's conditional D without its condition."""

    name = "unconditioned"
    roles = ("D",)

    def reads(self):
        return ("real_B",)

    def networks(self):
        return ("D",)

    def loss(self, step, role):
        return step.net("D")(step["real_B"]).mean()


@pytest.fixture
def unconditioned_installed():
    class Package:
        @hookimpl
        def i2i_losses(self):
            return [Unconditioned]

    package = Package()
    registry.plugin_manager().register(package)
    registry._losses.cache_clear()
    yield
    registry.plugin_manager().unregister(package)
    registry._losses.cache_clear()


def test_a_plugin_that_raises_is_named_with_its_role_and_step(capsys, tmp_path, monkeypatch, unconditioned_installed):
    argv = ("train", "pix2pix", "--data", "demo", "--steps", "1", "--add", "unconditioned")
    expect_cli_error(capsys, *argv, "--out", tmp_path / "a", match="plugin 'unconditioned' (unconditioned) failed in "
                     "its D term at step 1: RuntimeError: Given groups=1, weight of size [16, 6, 4, 4], expected input[8, 3, 32, 32] to have 6 channels")
    monkeypatch.setenv("I2I_DEBUG", "1")
    code, _, err = cli(capsys, *argv, "--out", tmp_path / "b")
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("i2i: error: plugin")


# -- data --------------------------------------------------------------------------------------
def write_image(path, width=40, height=36, mode="RGB", format=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (height, width) if mode == "L" else (height, width, 3)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8), mode).save(path, format)
    return path


def test_a_domain_that_starts_gray_trains_in_colour_and_says_so(capsys, tmp_path):
    write_image(tmp_path / "data" / "trainA" / "0_first.png", mode="L")
    for k in (1, 2):
        write_image(tmp_path / "data" / "trainA" / f"{k}.png")
        write_image(tmp_path / "data" / "trainB" / f"{k}.png")
    code, out, err = cli(capsys, "train", "cyclegan", "--data", tmp_path / "data", "--out", tmp_path / "run", "--steps",
                         "1", "--image-size", "32", "--preset", "tiny", "--workers", "0")
    assert code == 0, err
    assert [line for line in out.splitlines() if "mixes" in line] == [
        f"i2i: {tmp_path / 'data' / 'trainA'} mixes 1 gray and 2 colour images: training it in colour "
        "(gray images repeated on 3 channels)"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["build"]["in_channels"] == 3


def test_broken_files_are_named_before_step_1(capsys, tmp_path):
    jpeg = write_image(tmp_path / "data" / "trainA" / "cut.jpg")
    write_image(tmp_path / "data" / "trainB" / "0.png")
    jpeg.write_bytes(jpeg.read_bytes()[:-200])  # a truncated download: PIL's header check alone passes it
    expect_cli_error(capsys, *TRAIN[:2], "--data", tmp_path / "data", "--out", tmp_path / "run",
                     match="cut.jpg: cannot read image (image file is truncated")
    write_image(tmp_path / "pairs" / "train" / "ok.png", width=80)
    write_image(tmp_path / "pairs" / "train" / "thin.png", width=1)
    expect_cli_error(capsys, "train", "pix2pix", "--data", tmp_path / "pairs", "--out", tmp_path / "run",
                     match="thin.png is 1 pixel wide: an aligned file holds A and B side by side")


def test_a_file_broken_during_training_is_named_in_one_line_from_a_loader_worker(tmp_path):
    jpeg = write_image(tmp_path / "trainA" / "late.jpg")
    write_image(tmp_path / "trainB" / "0.png")
    dataset = UnalignedFolders(tmp_path, preprocess=Preprocess(load_size=32, crop_size=32))
    jpeg.write_bytes(jpeg.read_bytes()[:-200])
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=[[(0, 0)]], num_workers=1)
    with pytest.raises(DataError) as caught:
        next(iter(loader))
    assert str(caught.value).startswith(f"{jpeg}: cannot read image (image file is truncated")
    assert len(str(caught.value).splitlines()) == 1


# -- image sizes -------------------------------------------------------------------------------
def test_each_recipe_says_which_image_sizes_it_takes(capsys, tmp_path):
    sizes = {name: factory(BuildOptions()).image_sizes for name, factory in registry.recipes().items()}
    assert sizes["drit"].accepts(216) and not sizes["drit"].accepts(218)  # the reference crop
    assert sizes["cyclegan"].accepts(36) and not sizes["pix2pix"].accepts(48)  # a U-Net's depth is log2(size)
    code, out, _ = cli(capsys, "recipes", "drit")
    assert code == 0 and "image sizes (--image-size): a multiple of 4 from 32 to 512" in out
    trainer = tiny_trainer("cyclegan", tmp_path / "run", 1, image_size=36)
    trainer.fit()
    assert trainer.batch_for(0)["real_A"].shape[-2:] == (36, 36)


# -- resume ------------------------------------------------------------------------------------
def test_resume_refuses_what_would_change_the_run_and_stretches_the_schedule_it_says_so(capsys, tmp_path):
    run = tmp_path / "run"
    tiny_trainer("cyclegan", run, 2, sets={"schedule.policy": "linear"}, eval_every=100).fit()
    capsys.readouterr()  # the progress lines
    resume = ("train", "cyclegan", "--out", run, "--resume", "--steps", "3")
    for option, match in [
        (["--set", "bogus.key=1"], "unknown setting 'bogus.key' for recipe 'cyclegan'; valid keys:"),
        (["--add", "nonexistent"], "unknown loss plugin 'nonexistent'"),
        (["--set", "optim.lr=0.5"], "--set optim.lr=0.5 differs from the run's optim.lr = 0.0002"),
        (["--add", "r1"], "--add r1 differs from the run's plugins (none added)"),
        (["--batch-size", "4"], "--batch-size 4 differs from the run's 2"),
        (["--image-size", "64"], "--image-size 64 differs from the run's 32"),
        (["--preset", "paper"], "--preset paper differs from the run's tiny"),
        (["--seed", "1"], "--seed 1 differs from the run's 0"),
        (["--direction", "BtoA"], "--direction BtoA differs from the run's AtoB"),
    ]:
        expect_cli_error(capsys, *resume, "--data", "demo", *option, match=match)
    expect_cli_error(capsys, *resume, "--data", tmp_path, match=f"--data {tmp_path} differs from the run's demo")
    # What the run was given may be repeated; the length may change, and is recorded.
    code, out, err = cli(capsys, *resume, "--data", "demo:shapes", "--set", "optim.lr=2e-4", "--batch-size", "2")
    assert code == 0, err
    assert ("i2i: the 2-step run continues to 3 steps: its linear learning-rate schedule is stretched to 3 steps "
            "from step 2 on, so the run differs from a 3-step run started afresh") in out.splitlines()
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 3
