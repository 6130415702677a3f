"""SinCUT (Park et al. 2020): single-image data (the CUT reference code, data/singleimage_dataset.py),
and the recipe trained, resumed and used for translation through the command line."""
import json
import math
import random
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import n_params, stop_after
from i2i_core.cli import main
from i2i_core.data import DataError, open_dataset
from i2i_core.errors import ConfigError
from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.single_image import SingleImagePair, zoom_and_patch


# --- single-image data --------------------------------------------------------------------------

def write_png(path, size, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def single(tmp_path):
    """A folder with one 48×40 image in trainA/ and one 56×48 image in trainB/."""
    write_png(tmp_path / "single" / "trainA" / "a.png", (48, 40), seed=1)
    write_png(tmp_path / "single" / "trainB" / "b.png", (56, 48), seed=2)
    return tmp_path / "single"


def open_single(spec, phase="train", size=16):
    return open_dataset(str(spec), paired=False, phase=phase, image_size=size, preprocess_mode="zoom_and_patch")


def test_items_are_crops_determined_by_their_key(single):
    data = open_single(single)
    assert isinstance(data, SingleImagePair) and len(data) == 100_000
    first = data[(123, 456)]
    again = open_single(single)[(123, 456)]
    assert set(first) == {"real_A", "real_B"}
    for name in first:
        assert first[name].shape == (3, 16, 16) and torch.equal(first[name], again[name])
        assert -1 <= first[name].min() and first[name].max() <= 1
    others = [data[(123, seed)]["real_A"] for seed in range(6)] + [data[(index, 456)]["real_A"] for index in range(6)]
    assert not all(torch.equal(first["real_A"], other) for other in others)


def test_zooms_are_drawn_per_group_of_indices_within_range(single):
    data = SingleImagePair(single / "trainA" / "a.png", single / "trainB" / "b.png", crop=16, batch_size=4,
                           length=400, scale_max=3)
    for table in data.zooms:
        assert table.shape == (101, 2) and (table >= 1 / 3).all() and (table <= 1).all()
        assert table.std() > 0.1  # spread over the range, not a constant
    assert not np.allclose(data.zooms[0], data.zooms[1])  # A and B independent
    assert sorted(data.cells[0].tolist()) == list(range(400)) and not np.array_equal(data.cells[0], data.cells[1])


def test_zoom_and_patch_takes_column_major_cells_of_the_zoomed_image():
    crop = 4
    image = torch.arange(8 * 8, dtype=torch.float32).view(1, 8, 8) / 63
    rng = random.Random(0)
    cells = [zoom_and_patch(image, (1.0, 1.0), cell, crop, rng, flip=False) for cell in range(5)]
    expect = lambda top, left: image[:, top:top + crop, left:left + crop] * 2 - 1  # noqa: E731
    assert torch.equal(cells[0], expect(0, 0)) and torch.equal(cells[1], expect(4, 0))  # down the column first
    assert torch.equal(cells[2], expect(0, 4)) and torch.equal(cells[4], cells[0])  # then modulo 4 cells
    big = torch.rand(3, 30, 40)
    shrunk = zoom_and_patch(big, (0.5, 0.5), 0, 8, random.Random(1))
    assert shrunk.shape == (3, 8, 8)
    # A zoom below crop/size keeps at least one whole cell: the image is never smaller than the crop.
    assert zoom_and_patch(big, (0.1, 0.1), 3, 12, random.Random(2)).shape == (3, 12, 12)


def test_two_files_spec_and_the_test_phase_whole_images(single):
    spec = f"{single / 'trainA' / 'a.png'},{single / 'trainB' / 'b.png'}"
    assert torch.equal(open_single(spec)[(7, 8)]["real_B"], open_single(single)[(7, 8)]["real_B"])
    test = open_single(single, phase="test")
    item = test[(0, 0)]
    assert len(test) == 1 and item["real_A"].shape == (3, 40, 48) and item["real_B"].shape == (3, 48, 56)
    flipped = open_dataset(str(single), paired=False, phase="train", image_size=16, direction="BtoA",
                           preprocess_mode="zoom_and_patch")
    assert torch.equal(flipped[(3, 4)]["real_A"], open_single(single)[(3, 4)]["real_B"])


def test_single_image_data_errors(single, tmp_path):
    (tmp_path / "empty" / "trainA").mkdir(parents=True)
    (tmp_path / "empty" / "trainB").mkdir()
    write_png(tmp_path / "two" / "trainA" / "a.png", (20, 20))
    write_png(tmp_path / "two" / "trainA" / "b.png", (20, 20))
    write_png(tmp_path / "two" / "trainB" / "b.png", (20, 20))
    cases = {
        str(tmp_path / "two"): "holds 2 images",
        str(tmp_path / "empty"): "holds 0 images",
        f"{single / 'trainA' / 'a.png'},{tmp_path / 'missing.png'}": "missing.png does not exist",
        str(tmp_path / "nowhere"): "nowhere does not exist",
    }
    for spec, message in cases.items():
        with pytest.raises(DataError, match=message) as caught:
            open_single(spec)
        assert "\n" not in str(caught.value)


# --- the recipe ---------------------------------------------------------------------------------

def test_recipe_settings_follow_the_reference():
    recipe = build_recipe("sincut", BuildOptions(image_size=64))
    settings = recipe.resolved()
    assert settings["adversarial.mode"] == "nonsaturating" and settings["adversarial.d_factor"] == 0.5
    assert settings["r1.gamma"] == 1.0 and settings["r1.interval"] == 1 and settings["r1.weight"] == 1.0
    assert settings["patchnce.weight"] == 4.0 and settings["patchnce.layers"] == ["input", "down1", "res2"]
    assert settings["patchnce.num_patches"] == 1 and settings["patchnce.negatives_from_minibatch"] is True
    assert settings["patchnce.identity"] is True and settings["patchnce.temperature"] == 0.07
    assert settings["identity.weight"] == 1.0 and settings["identity.pairs"] == [["idt_B", "real_B"]]
    assert settings["optim.lr"] == 0.002 and settings["optim.betas"] == [0.0, 0.99]
    assert settings["data.batch_size"] == 16 and settings["data.epochs"] == 16
    assert settings["data.preprocess"] == "zoom_and_patch" and settings["schedule.decay_start"] == 0.5
    assert [p.name for p in recipe.phases] == ["D", "G"] and "F" in recipe.phase("G").optimizers
    with torch.device("meta"):
        nets = {name: spec.build() for name, spec in recipe.nets.items()}
    assert n_params(nets["G"]) == 3_068_404 and n_params(nets["D"]) == 5_885_473
    with pytest.raises(ConfigError, match="same channels"):
        build_recipe("sincut", BuildOptions(image_size=64, in_channels=1, out_channels=3))


def test_an_epoch_is_the_references_100000_crops(single):
    assert len(open_single(single, size=64)) // 16 == 6250


def train(capsys, data, out, *extra):
    argv = ["train", "sincut", "--data", data, "--out", out, "--image-size", "32", "--preset", "tiny",
            "--batch-size", "4", "--log-every", "1", "--sample-every", "100", *extra]
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_trains_from_two_single_images_resumes_exactly_and_translates_at_their_size(capsys, single, tmp_path):
    # Worker processes in one run and none in the other: crops depend on their keys only.
    code, err = train(capsys, single, tmp_path / "straight", "--steps", "4", "--workers", "2")
    assert code == 0, err
    with stop_after(2):
        code, err = train(capsys, single, tmp_path / "resumed", "--steps", "4", "--workers", "0")
    assert code == 128 + signal.SIGINT, err
    code, err = train(capsys, single, tmp_path / "resumed", "--resume", "--workers", "0")
    assert code == 0, err
    straight, resumed = (torch.load(tmp_path / run / "checkpoints" / "latest.pt", weights_only=True)
                         for run in ("straight", "resumed"))
    assert straight["step"] == resumed["step"] == 4
    for group in ("nets", "plugins"):
        for name, state in straight[group].items():
            for key, value in _flat(state):
                assert torch.equal(value, dict(_flat(resumed[group][name]))[key]), f"{group}.{name}.{key}"
    rows = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert {"adversarial", "adversarial/D", "r1/D", "patchnce", "identity"} <= set(rows[-1])
    assert all(math.isfinite(v) for row in rows for v in row.values())
    assert (tmp_path / "straight" / "samples" / "latest.png").is_file()

    odd = write_png(tmp_path / "odd" / "photo.png", (45, 37), seed=3)
    for image in (single / "trainA" / "a.png", odd):
        code = main(["translate", "--checkpoint", str(tmp_path / "straight"), "--input", str(image),
                     "--out", str(tmp_path / "translated")])
        assert code == 0, capsys.readouterr().err
        with Image.open(image) as source, Image.open(tmp_path / "translated" / image.name) as result:
            assert result.size == source.size and result.mode == "RGB"


def _flat(state, prefix=""):
    for key, value in state.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_a_batch_that_leaves_patchnce_without_negatives_is_refused():
    """SinCUT takes 1 patch per layer with negatives from the minibatch: a batch of 1 gives none."""
    from i2i_core.errors import PluginError

    with pytest.raises(PluginError, match="num_patches 1 finds no negative.*data.batch_size 1"):
        build_recipe("sincut", BuildOptions(image_size=64), sets={"data.batch_size": 1})
    with pytest.raises(PluginError, match="its own image"):
        build_recipe("cut", BuildOptions(image_size=64), sets={"patchnce.num_patches": 1})
    build_recipe("sincut", BuildOptions(image_size=64), sets={"data.batch_size": 2})
