"""Tiled translation (--tile) equals the whole-image translation, for every generator kind."""
import numpy as np
import pytest
import torch
from PIL import Image

from i2i_core import tiling
from i2i_core.nets import ResnetGenerator, UnetGenerator
from i2i_core.recipe import BuildOptions, Translator, build_recipe
from i2i_core.translate import size_multiple, translate_image

from helpers import cli as run, expect_cli_error as expect_error

LIMIT = 2 / 255  # 1/255 on the [0, 1] scale; images here are in [-1, 1]


def recipe_translator(name):
    recipe = build_recipe(name, BuildOptions(image_size=32, preset="tiny"))
    translator = recipe.translator("AtoB")
    nets = {net: recipe.nets[net].build(net).eval() for net in translator.nets}
    code = None
    if translator.sample_code is not None:
        code = translator.sample_code(1, torch.Generator().manual_seed(1), "cpu")
    return translator, nets, code


def compare(translator, nets, code, size, tile):
    """Largest difference tiled − whole, and the tiler (to check that crops were real crops)."""
    image = torch.rand(3, *size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.manual_seed(5)  # StyleGAN2's noise: the same draws for both
    whole = translate_image(translator, nets, image, code)
    tiler = tiling.Tiler(translator, nets, tile, size_multiple(nets))
    torch.manual_seed(5)
    tiled = translate_image(translator, nets, image, code, tiler)
    return (whole - tiled).abs().max().item(), tiler


def assert_real_crops(tiler, side):
    # The halo (in image pixels) must leave interior tiles a crop smaller than the image, or the
    # comparison would be of whole images.
    for layouts in tiler.layouts.values():
        scale = 1
        for layout in layouts:
            assert tiler.tile + 2 * layout.halo / scale < side
            scale *= layout.scale


@pytest.mark.parametrize("name,size,tile", [("cyclegan", (90, 77), 32), ("cut", (120, 100), 40),
                                            ("sincut", (128, 120), 32),
                                            ("munit", (140, 136), 40), ("drit", (140, 136), 40),
                                            ("bicyclegan", (288, 300), 64)])
def test_tiled_equals_whole_for_each_recipe_generator(name, size, tile):
    translator, nets, code = recipe_translator(name)
    for key, p in nets.get("G", nets[translator.nets[0]]).named_parameters():
        if key.endswith("noise.weight"):  # trained StyleGAN2 generators inject noise; fresh ones do not
            p.data.fill_(0.7)
    diff, tiler = compare(translator, nets, code, size, tile)
    assert diff <= LIMIT
    assert_real_crops(tiler, min(size))


def test_resnet_without_its_split_and_unet_with_instance_norm(monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setattr(tiling, "KEEP_WHOLE_BYTES", 0)  # every norm reruns the network from the image
    for net, size, tile in [(ResnetGenerator(ngf=8, n_blocks=3), (150, 140), 48),
                            (UnetGenerator(ngf=4, num_downs=5, norm="instance"), (288, 300), 64)]:
        diff, tiler = compare(Translator.of_network("G"), {"G": net.eval()}, None, size, tile)
        assert diff <= LIMIT and "whole" in tiler.layouts
        assert_real_crops(tiler, min(size))


def test_tiles_with_their_own_statistics_would_not_match():
    # What the whole-image statistics are for: the same crops, normalised by themselves, differ.
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=8, n_blocks=2).eval()
    image = torch.rand(1, 3, 96, 96) * 2 - 1
    with torch.no_grad():
        whole, corner = net(image), net(image[:, :, :64, :64])
    assert (whole[:, :, :32, :32] - corner[:, :, :32, :32]).abs().max() > 10 * LIMIT


def test_cli_tile_matches_whole_and_refuses_bad_sizes(capsys, tmp_path):
    torch.manual_seed(0)
    torch.save(ResnetGenerator(ngf=8, n_blocks=2).state_dict(), tmp_path / "g.pth")
    source = tmp_path / "in" / "x.png"
    source.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (130, 150, 3), dtype=np.uint8)).save(source)
    outputs = []
    for tile in ("0", "48"):
        code, _, err = run(capsys, "translate", "--weights", tmp_path / "g.pth", "--input", source,
                           "--out", tmp_path / f"out{tile}", "--tile", tile)
        assert code == 0, err
        outputs.append(np.asarray(Image.open(tmp_path / f"out{tile}" / "x.png"), dtype=np.int16))
    assert np.abs(outputs[0] - outputs[1]).max() <= 1
    for bad in ("-1", "nan", "1e9x"):
        expect_error(capsys, "translate", "--weights", tmp_path / "g.pth", "--input", source, "--out",
                     tmp_path / "bad", "--tile", bad, match="--tile")
    err = expect_error(capsys, "translate", "--weights", tmp_path / "g.pth", "--input", source, "--out",
                       tmp_path / "bad", "--tile", "4", match="--tile 4 is smaller than the halo")
    assert not (tmp_path / "bad" / "x.png").exists(), err


def test_benchmark_runs_in_its_small_form():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "translate_large.py"
    done = subprocess.run([sys.executable, str(script), "--sizes", "128", "--tile", "64", "--untiled-max", "128",
                           "--threads", "1"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.split()[:1] == ["128"]]
    assert [row[1] for row in rows] == ["untiled", "tile"] and float(rows[1][-1]) <= 1 / 255
