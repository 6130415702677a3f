"""Demo domains, image files, preprocessing and the folder datasets."""
import pickle
import random

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_core import demo
from i2i_core.data import (
    AlignedFolder, DataError, Preprocess, UnalignedFolders, check_headers, find_images, load_image,
    open_dataset, save_image, to_uint8,
)
from i2i_core.demo import PALETTE_A, PALETTE_B, STYLES, DemoDataset, demo_name, layout, render


def classes_of(image: torch.Tensor, palette) -> torch.Tensor:
    """Class map of an item image in [-1, 1], by nearest palette colour."""
    rgb = (image.permute(1, 2, 0) + 1) / 2
    distances = (rgb[..., None, :] - torch.as_tensor(palette)).norm(dim=-1)
    return distances.argmin(-1)


# ------------------------------------------------------------------------------------------- demo
def test_layout_is_deterministic_and_valid():
    first = layout(7, 32)
    assert first.shape == (32, 32) and first.dtype == np.uint8
    assert np.array_equal(first, layout(7, 32))
    assert not np.array_equal(first, layout(8, 32))
    assert set(np.unique(first)) <= {0, 1, 2, 3}
    assert layout(7, 64).shape == (64, 64)


def test_area_shares_match_the_spec():
    counts = sum(np.bincount(layout(seed, 32).ravel(), minlength=4) for seed in range(2000))
    shares = 100 * counts / counts.sum()
    expected = [73.3, 19.1, 4.7, 2.9]  # background, disc, square, triangle (i2i's demo domains, i2i_core/demo.py)
    assert np.all(np.abs(shares - expected) <= 1.5), shares


def test_every_day_colour_is_nearest_to_a_wrong_night_colour():
    distances = np.linalg.norm(PALETTE_A[:, None] - PALETTE_B[None], axis=-1)
    assert np.all(distances.argmin(1) != np.arange(4))


def test_styles_are_far_apart_and_from_their_mean():
    pairwise = np.linalg.norm(STYLES[:, None] - STYLES[None], axis=-1)
    assert pairwise[~np.eye(4, dtype=bool)].min() >= 0.32
    assert np.linalg.norm(STYLES - STYLES.mean(0), axis=-1).min() >= 0.2


def test_render_uses_palette_and_background_override():
    classes = layout(3, 32)
    image = render(classes, PALETTE_A)
    assert image.dtype == np.float32 and image.shape == (32, 32, 3)
    assert np.array_equal(image, PALETTE_A[classes])
    styled = render(classes, PALETTE_B, background=STYLES[2])
    assert np.allclose(styled[classes == 0], STYLES[2])
    assert np.allclose(styled[classes != 0], PALETTE_B[classes[classes != 0]])


def test_demo_name_parsing():
    assert demo_name("demo") == "shapes"
    assert demo_name("demo:shapes") == "shapes"
    assert demo_name("demo:shapes-styles") == "shapes-styles"
    assert demo_name("/data/horse2zebra") is None
    with pytest.raises(ValueError, match="shapes-styles"):
        demo_name("demo:horses")


def test_paired_test_split_renders_one_layout_both_ways():
    dataset = DemoDataset("shapes", split="test", res=32)
    assert len(dataset) == 200
    item = dataset[(5, 123)]
    truth = torch.from_numpy(layout(10**6 + 5, 32).astype(np.int64))
    assert item["layout"].dtype == torch.int64 and torch.equal(item["layout"], truth)
    assert torch.equal(classes_of(item["real_A"], PALETTE_A), truth)
    assert torch.equal(classes_of(item["real_B"], PALETTE_B), truth)
    assert item["real_A"].shape == (3, 32, 32) and item["real_A"].min() >= -1 and item["real_A"].max() <= 1


def test_training_splits_use_even_and_odd_seeds():
    unpaired = DemoDataset("shapes", split="train", res=32)
    assert len(unpaired) == 2000
    item = unpaired[(4, 99)]
    assert torch.equal(classes_of(item["real_A"], PALETTE_A), torch.from_numpy(layout(8, 32).astype(np.int64)))
    b_classes = classes_of(item["real_B"], PALETTE_B).numpy()
    j = random.Random(99).randrange(2000)
    assert np.array_equal(b_classes, layout(2 * j + 1, 32))
    assert all(torch.equal(item[k], unpaired[(4, 99)][k]) for k in item)

    paired = DemoDataset("shapes", split="train", paired=True, res=32, length=10)
    item = paired[(3, 0)]
    assert len(paired) == 10
    assert np.array_equal(classes_of(item["real_A"], PALETTE_A).numpy(), layout(6, 32))
    assert np.array_equal(classes_of(item["real_B"], PALETTE_B).numpy(), layout(6, 32))


def test_styles_variant_returns_the_style_and_paints_the_background_with_it():
    dataset = DemoDataset("shapes-styles", split="test", res=32, length=40)
    seen = set()
    for index in range(40):
        item = dataset[(index, 0)]
        k = item["style"]
        background = (item["real_B"].permute(1, 2, 0)[item["layout"] == 0] + 1) / 2
        assert torch.allclose(background, torch.as_tensor(STYLES[k]), atol=1e-6)
        assert k == demo.style_of(10**6 + index)
        seen.add(k)
    assert seen == {0, 1, 2, 3}
    batch = torch.utils.data.default_collate([dataset[(i, 0)] for i in range(4)])
    assert batch["style"].shape == (4,) and batch["layout"].shape == (4, 32, 32)


# ------------------------------------------------------------------------------------ image files
def write(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def noise(h, w, c=3, seed=0):
    shape = (h, w, c) if c > 1 else (h, w)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_find_images_is_recursive_sorted_and_case_strict(tmp_path):
    for name in ["b.png", "a.JPG", "sub/c.tiff", "d.Png", "e.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)] == ["a.JPG", "b.png", "sub/c.tiff"]


def test_load_image_modes(tmp_path):
    rgb = noise(5, 7)
    loaded = load_image(write(tmp_path / "rgb.png", rgb), 3)
    assert loaded.dtype == torch.float32 and loaded.shape == (3, 5, 7)
    assert torch.allclose(loaded, torch.from_numpy(rgb).permute(2, 0, 1) / 255)
    luminance = (torch.from_numpy(rgb).float() / 255) @ torch.tensor([0.299, 0.587, 0.114])
    assert torch.allclose(load_image(tmp_path / "rgb.png", 1)[0], luminance, atol=1e-6)

    rgba = np.dstack([rgb, noise(5, 7, 1, seed=1)])
    assert torch.equal(load_image(write(tmp_path / "rgba.png", rgba), 3), loaded)

    deep = np.random.default_rng(2).integers(0, 65536, (5, 7), dtype=np.uint16)
    sixteen = load_image(write(tmp_path / "deep.png", deep), 1)
    assert sixteen.shape == (1, 5, 7) and torch.allclose(sixteen[0], torch.from_numpy(deep / 65535).float())
    assert torch.allclose(load_image(write(tmp_path / "deep.tif", deep), 1), sixteen)

    gray = noise(5, 7, 1)
    as_rgb = load_image(write(tmp_path / "gray.png", gray), 3)
    assert as_rgb.shape == (3, 5, 7) and torch.equal(as_rgb[0], as_rgb[2])
    assert torch.allclose(as_rgb[1], torch.from_numpy(gray) / 255)
    gray_alpha = Image.fromarray(np.dstack([gray, gray]), "LA")
    gray_alpha.save(tmp_path / "la.png")
    assert torch.equal(load_image(tmp_path / "la.png", 1)[0], as_rgb[0])

    Image.fromarray(rgb).quantize(8).save(tmp_path / "palette.png")
    assert load_image(tmp_path / "palette.png", 3).shape == (3, 5, 7)


def test_corrupt_files_are_named(tmp_path):
    good = write(tmp_path / "good.png", noise(8, 8))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image")
    check_headers([good])
    for bad in (truncated, garbage):
        with pytest.raises(DataError, match=bad.name):
            check_headers([good, bad])
        with pytest.raises(DataError, match=bad.name):
            load_image(bad, 3)


def test_save_image_truncates_like_the_reference(tmp_path):
    values = torch.tensor([-2.0, -1.0, 0.0, 0.5, 0.999, 1.0, 3.0])
    expected = [0, 0, 127, 191, 254, 255, 255]  # floor((x + 1) / 2 · 255), not rounding
    assert to_uint8(values.view(1, 1, 7))[0, :, 0].tolist() == expected
    save_image(values.view(1, 1, 7), tmp_path / "gray.png")
    with Image.open(tmp_path / "gray.png") as saved:
        assert saved.mode == "L" and np.asarray(saved)[0].tolist() == expected
    save_image(torch.zeros(3, 4, 6), tmp_path / "out/rgb.png")
    with Image.open(tmp_path / "out/rgb.png") as saved:
        assert saved.mode == "RGB" and saved.size == (6, 4)


# ---------------------------------------------------------------------------------- preprocessing
def test_preprocess_modes_give_the_reference_sizes():
    image = torch.rand(3, 30, 50)
    rng = random.Random(0)
    assert Preprocess(load_size=36, crop_size=32)(image, rng).shape == (3, 32, 32)
    assert Preprocess(load_size=40, crop_size=16, mode="scale_width_and_crop").resized(30, 50) == (24, 40)
    assert Preprocess(load_size=40, crop_size=32, mode="scale_width_and_crop").resized(30, 50) == (32, 40)
    assert Preprocess(crop_size=16, mode="crop")(image, rng).shape == (3, 16, 16)
    assert Preprocess(crop_size=40, mode="crop")(image, rng).shape == (3, 40, 40)  # scaled up to fit
    kept = Preprocess(mode="none", flip=False)(image, rng)
    assert kept.shape == (3, 32, 48)  # nearest multiples of 4 (Python round, as the reference: 12.5 → 12)
    same = Preprocess(mode="none", flip=False)(image[:, :28, :48], rng)
    assert torch.equal(same, image[:, :28, :48] * 2 - 1)  # already multiples of 4: untouched
    out = Preprocess(load_size=64, crop_size=64)(image, rng)
    assert out.min() >= -1 and out.max() <= 1
    with pytest.raises(DataError, match="smaller than the crop"):
        Preprocess(load_size=16, crop_size=32)


# -------------------------------------------------------------------------------- folder datasets
@pytest.fixture
def unaligned(tmp_path):
    root = tmp_path / "data"
    for i in range(3):
        write(root / "trainA" / f"a{i}.png", noise(30, 40, seed=i))
    write(root / "trainB" / "b0.png", noise(24, 24, 1, seed=10))  # grayscale
    write(root / "trainB" / "sub" / "b1.png", np.dstack([noise(36, 20, seed=11), noise(36, 20, 1)]))  # RGBA
    deep = np.random.default_rng(3).integers(0, 65536, (28, 28), dtype=np.uint16)
    write(root / "trainB" / "b2.png", deep)  # 16-bit
    write(root / "valA" / "a.png", noise(16, 16))
    write(root / "valB" / "b.png", noise(16, 16))
    return root


def test_unaligned_folders(unaligned):
    dataset = UnalignedFolders(unaligned, preprocess=Preprocess(load_size=36, crop_size=32))
    assert len(dataset) == 3 and len(dataset.files_B) == 3
    item = dataset[(1, 5)]
    assert set(item) == {"real_A", "real_B"}
    assert item["real_A"].shape == item["real_B"].shape == (3, 32, 32)
    again = dataset[(1, 5)]
    assert torch.equal(item["real_A"], again["real_A"]) and torch.equal(item["real_B"], again["real_B"])
    variants = {dataset[(1, seed)]["real_A"].sum().item() for seed in range(8)}
    assert len(variants) > 1  # crop and flip depend on the seed
    batch = torch.utils.data.default_collate([dataset[(i, i)] for i in range(3)])
    assert batch["real_B"].shape == (3, 3, 32, 32)

    gray = UnalignedFolders(unaligned, channels_A=1, channels_B=1, preprocess=Preprocess(32, 32))
    assert gray[(0, 0)]["real_A"].shape == (1, 32, 32)
    test = UnalignedFolders(unaligned, phase="test", preprocess=Preprocess(16, 16, flip=False))
    assert test.files_A[0].parent.name == "valA"  # no test split: falls back to val


def test_aligned_crop_and_flip_are_shared_by_both_halves(tmp_path):
    half = noise(20, 30)
    write(tmp_path / "train" / "0.png", np.hstack([half, half]))
    write(tmp_path / "train" / "1.png", np.hstack([half, half, half[:, :1]]))  # odd width
    dataset = AlignedFolder(tmp_path, preprocess=Preprocess(load_size=24, crop_size=16))
    outputs = set()
    for seed in range(10):
        for index in range(2):
            item = dataset[(index, seed)]
            assert item["real_A"].shape == (3, 16, 16)
            assert torch.equal(item["real_A"], item["real_B"])
            outputs.add(item["real_A"].sum().item())
    assert len(outputs) > 2  # augmentation did vary


def test_aligned_halves_and_direction(tmp_path):
    left, right = noise(16, 16, seed=1), noise(16, 16, seed=2)
    write(tmp_path / "train" / "ab.png", np.hstack([left, right]))
    as_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1) / 255 * 2 - 1  # noqa: E731
    forward = open_dataset(str(tmp_path), paired=True, phase="train", image_size=16, load_size=16, flip=False)
    assert torch.allclose(forward[(0, 0)]["real_A"], as_tensor(left))
    assert torch.allclose(forward[(0, 0)]["real_B"], as_tensor(right))
    backward = open_dataset(str(tmp_path), paired=True, phase="train", image_size=16, load_size=16, flip=False,
                            direction="BtoA")
    assert torch.equal(backward[(0, 0)]["real_A"], forward[(0, 0)]["real_B"])
    assert backward.files == forward.files and len(backward) == 1
    assert torch.equal(pickle.loads(pickle.dumps(backward))[(0, 0)]["real_A"], backward[(0, 0)]["real_A"])
    gray = open_dataset(str(tmp_path), paired=True, phase="train", image_size=16, channels=1)
    assert gray[(0, 0)]["real_B"].shape == (1, 16, 16)


def test_open_dataset_non_square_and_demo(unaligned):
    dataset = open_dataset(str(unaligned), paired=False, phase="train", image_size=24)
    assert dataset.preprocess.load_size == 27 and dataset[(2, 1)]["real_B"].shape == (3, 24, 24)
    kept = open_dataset(str(unaligned), paired=False, phase="train", image_size=24, preprocess_mode="none")
    assert kept[(0, 0)]["real_A"].shape == (3, 32, 40)
    demo_data = open_dataset("demo", paired=False, phase="train", image_size=32, length=50)
    assert isinstance(demo_data, DemoDataset) and len(demo_data) == 50
    styled = open_dataset("demo:shapes-styles", paired=True, phase="test", image_size=32, direction="BtoA")
    item = styled[(0, 0)]
    assert torch.equal(classes_of(item["real_B"], PALETTE_A), item["layout"]) and "style" in item


def test_data_errors_name_the_culprit(tmp_path, unaligned):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere does not exist"):
        open_dataset(str(missing), paired=False, phase="train", image_size=16)
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match=r"flat.*trainA.*trainB.*flat/train"):
        open_dataset(str(tmp_path / "flat"), paired=True, phase="train", image_size=16)
    (tmp_path / "empty" / "trainA").mkdir(parents=True)
    write(tmp_path / "empty" / "trainB" / "b.png", noise(8, 8))
    with pytest.raises(DataError, match="trainA contains no images"):
        open_dataset(str(tmp_path / "empty"), paired=False, phase="train", image_size=8)
    (unaligned / "trainB" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match="broken.png"):
        open_dataset(str(unaligned), paired=False, phase="train", image_size=16)
    with pytest.raises(DataError, match="demo:shapes-styles"):
        open_dataset("demo:cats", paired=False, phase="train", image_size=16)
