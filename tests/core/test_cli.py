"""The command line: listings, translation, and every bad input giving one line and exit status 2."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_core.nets import PatchGAN, ResnetGenerator
from i2i_core.recipe import BuildOptions, build_recipe

from helpers import cli as run, expect_cli_error as expect_error


def test_recipes_and_plugins_listings(capsys):
    code, out, _ = run(capsys, "recipes")
    lines = out.splitlines()
    assert code == 0 and any(l.startswith("cyclegan ") for l in lines) and any(l.startswith("pix2pix ") for l in lines)
    code, out, _ = run(capsys, "recipes", "cyclegan")
    assert code == 0 and "cycle.weight = 10.0" in out and "nets.G_AB.ngf = 64" in out and "optim.lr = 0.0002" in out
    code, out, _ = run(capsys, "plugins")
    assert code == 0 and "cycle  i2i" in out.splitlines() and "adversarial  i2i" in out.splitlines()


def test_python_dash_m_runs_the_same_cli():
    out = subprocess.run([sys.executable, "-m", "i2i_core", "recipes"], capture_output=True, text=True, check=True)
    assert any(line.startswith("cyclegan ") for line in out.stdout.splitlines())


def write_png(path, size=(20, 12), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(path)
    return path


@pytest.fixture
def unaligned(tmp_path):
    for side in "AB":
        for k in range(2):
            write_png(tmp_path / "data" / f"train{side}" / f"{k}.png", (40, 36))
    return tmp_path / "data"


def test_bad_inputs_give_one_line_and_status_2(capsys, tmp_path, unaligned):
    out = tmp_path / "run"
    expect_error(capsys, "train", "nope", "--data", "demo", "--out", out, match="unknown recipe 'nope'; valid:")
    expect_error(capsys, "train", "cyclegan", "--data", tmp_path / "missing", "--out", out, match="missing does not exist")
    (tmp_path / "empty").mkdir()
    expect_error(capsys, "train", "cyclegan", "--data", tmp_path / "empty", "--out", out, match="trainA")
    (tmp_path / "nofiles" / "trainA").mkdir(parents=True)
    (tmp_path / "nofiles" / "trainB").mkdir(parents=True)
    expect_error(capsys, "train", "cyclegan", "--data", tmp_path / "nofiles", "--out", out, match="contains no images")
    (unaligned / "trainB" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    expect_error(capsys, "train", "cyclegan", "--data", unaligned, "--out", out, match="broken.png")
    (unaligned / "trainB" / "broken.png").unlink()
    expect_error(capsys, "train", "cyclegan", "--data", "demo", "--out", out, "--add", "nope",
                 match="unknown loss plugin 'nope'; valid:")
    expect_error(capsys, "train", "cyclegan", "--data", "demo", "--out", out, "--set", "cycle.wieght=1",
                 match="unknown setting 'cycle.wieght'")
    expect_error(capsys, "train", "pix2pix", "--data", "demo", "--out", out, "--add", "cycle",
                 match="plugin 'cycle' reads 'rec_A'")
    expect_error(capsys, "train", "cyclegan", "--data", "demo", "--out", out, "--image-size", "50",
                 match="--image-size must be a multiple of 4 from 32 to 512 for recipe 'cyclegan', got 50")
    expect_error(capsys, "train", "pix2pix", "--data", "demo", "--out", out, "--image-size", "48",
                 match="--image-size must be a power of two from 32 to 512 for recipe 'pix2pix', got 48")
    expect_error(capsys, "train", "cyclegan", "--data", "demo:nope", "--out", out, match="shapes")
    expect_error(capsys, "train", "cyclegan", "--out", out, match="--data")


def test_files_that_are_not_checkpoints_are_refused(capsys, tmp_path):
    image = write_png(tmp_path / "in.png")
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    expect_error(capsys, "translate", "--checkpoint", text, "--input", image, "--out", tmp_path / "o",
                 match="not a checkpoint")

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "i2i-checkpoint-1", "x": Payload()}, evil)
    expect_error(capsys, "translate", "--checkpoint", evil, "--input", image, "--out", tmp_path / "o",
                 match="refused")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    expect_error(capsys, "translate", "--checkpoint", foreign, "--input", image, "--out", tmp_path / "o",
                 match="not an i2i checkpoint")
    expect_error(capsys, "translate", "--weights", foreign, "--input", image, "--out", tmp_path / "o",
                 match="foreign.pt")


def test_existing_run_is_not_overwritten(capsys, cyclegan_demo_run):
    expect_error(capsys, "train", "cyclegan", "--data", "demo", "--out", cyclegan_demo_run, match="--resume")


def test_translate_keeps_each_inputs_size_and_channels(capsys, tmp_path, cyclegan_demo_run):
    inputs = tmp_path / "inputs"
    write_png(inputs / "wide.png", (45, 23))
    write_png(inputs / "gray.png", (17, 30), mode="L")
    write_png(inputs / "tiny.png", (3, 2))
    code, out, err = run(capsys, "translate", "--checkpoint", cyclegan_demo_run, "--input", inputs, "--out",
                         tmp_path / "out")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gray.png", "tiny.png", "wide.png"]
    assert Image.open(tmp_path / "out" / "wide.png").size == (45, 23)
    gray = Image.open(tmp_path / "out" / "gray.png")
    assert gray.size == (17, 30) and gray.mode == "L"
    code, _, err = run(capsys, "translate", "--checkpoint", cyclegan_demo_run / "checkpoints" / "latest.pt",
                       "--input", inputs / "wide.png", "--out", tmp_path / "back", "--direction", "BtoA")
    assert code == 0 and (tmp_path / "back" / "wide.png").is_file()
    expect_error(capsys, "translate", "--checkpoint", cyclegan_demo_run, "--input", inputs, "--out", tmp_path / "x",
                 "--samples", "3", match="--samples needs a multimodal run")


def test_translate_with_a_reference_generator(capsys, tmp_path):
    torch.manual_seed(0)
    G = ResnetGenerator(ngf=8, n_blocks=2).eval()
    torch.save(G.state_dict(), tmp_path / "latest_net_G_A.pth")
    image = write_png(tmp_path / "in" / "x.png", (30, 26))
    code, _, err = run(capsys, "translate", "--weights", tmp_path / "latest_net_G_A.pth", "--input", image,
                       "--out", tmp_path / "out")
    assert code == 0, err
    from i2i_core.data import load_image
    from i2i_core.recipe import Translator
    from i2i_core.translate import translate_image

    want = translate_image(Translator.of_network("G"), {"G": G}, load_image(image) * 2 - 1)
    got = load_image(tmp_path / "out" / "x.png") * 2 - 1
    assert (got - want).abs().max() < 2 / 255 + 1e-6
    torch.save(PatchGAN(ndf=8).state_dict(), tmp_path / "d.pth")  # a discriminator loads, but cannot translate here


def test_training_on_folders_with_mixed_channels_and_sizes(capsys, tmp_path):
    data = tmp_path / "data"
    for k in range(3):
        write_png(data / "trainA" / f"gray{k}.png", (50, 40), mode="L")
        (data / "trainB").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((30, 60, 4), 60 * k, np.uint8)).save(data / "trainB" / f"c{k}.png")  # RGBA
    Image.fromarray(np.arange(48 * 36, dtype=np.uint16).reshape(36, 48) * 30).save(data / "trainA" / "deep.png")
    code, _, err = run(capsys, "train", "cyclegan", "--data", data, "--out", tmp_path / "run", "--steps", "2",
                       "--image-size", "32", "--preset", "tiny", "--batch-size", "2", "--workers", "0",
                       "--direction", "BtoA")
    assert code == 0, err
    import json

    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["build"]["in_channels"] == 3 and config["build"]["out_channels"] == 1  # BtoA: RGB → gray
    assert build_recipe("cyclegan", BuildOptions(**{**config["build"], "preset": "paper"})).plugins["identity"].weight == 0.0
    code, _, err = run(capsys, "translate", "--checkpoint", tmp_path / "run", "--input", data / "trainB" / "c0.png",
                       "--out", tmp_path / "out")
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "c0.png").mode == "L"


def test_pix2pix_on_an_aligned_folder(capsys, tmp_path):
    data = tmp_path / "pairs"
    for k in range(2):
        write_png(data / "train" / f"{k}.png", (80, 40))
    code, _, err = run(capsys, "train", "pix2pix", "--data", data, "--out", tmp_path / "run", "--epochs", "1",
                       "--image-size", "32", "--preset", "tiny", "--workers", "0")
    assert code == 0, err
    assert json_rows(tmp_path / "run")[-1]["step"] == 2  # one epoch of two pairs at batch 1


def json_rows(run_dir):
    import json

    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_translate_keeps_subfolders_and_refuses_to_overwrite_or_collide(capsys, tmp_path, cyclegan_demo_run):
    inputs = tmp_path / "inputs"
    first, second = write_png(inputs / "sub1" / "y.png", (20, 20)), write_png(inputs / "sub2" / "y.png", (20, 20))
    code, out, err = run(capsys, "translate", "--checkpoint", cyclegan_demo_run, "--input", inputs, "--out",
                         tmp_path / "out")
    assert code == 0 and "wrote 2 image(s)" in out, err
    assert {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")} == {
        "sub1/y.png", "sub2/y.png"}
    before = first.read_bytes()
    expect_error(capsys, "translate", "--checkpoint", cyclegan_demo_run, "--input", inputs, "--out", inputs,
                 match="would overwrite the input")
    assert first.read_bytes() == before and second.is_file()  # nothing was written
    write_png(inputs / "sub1" / "y.jpg", (20, 20))
    expect_error(capsys, "translate", "--checkpoint", cyclegan_demo_run, "--input", inputs, "--out", tmp_path / "o2",
                 match="sub1/y.png would both be written to")
    assert not (tmp_path / "o2").exists()
    (tmp_path / "a_file").write_text("")
    expect_error(capsys, "translate", "--checkpoint", cyclegan_demo_run, "--input", inputs, "--out",
                 tmp_path / "a_file", match="is a file; translations go into a folder")


@pytest.mark.parametrize("option, match", [
    (["--log-every", "0"], "'log_every' must be >= 1"),
    (["--workers", "-1"], "'workers' must be >= 0"),
    (["--set", "optim.G.clip=-1"], "'clip' must be > 0.0"),
    (["--set", "optim.betas=[2,3]"], "'betas' must be two numbers in [0, 1)"),
    (["--set", "optim.G.weight_decay=-1"], "'weight_decay' must be >= 0.0"),
])
def test_numeric_settings_out_of_range_are_refused_before_training(capsys, tmp_path, option, match):
    expect_error(capsys, "train", "cyclegan", "--data", "demo", "--out", tmp_path / "run", "--steps", "2", *option,
                 match=match)
    assert not (tmp_path / "run").exists()
