"""Datasets: unaligned folders, aligned A|B pairs and the built-in demo domains (image files and
the folder layout are in ``images``; single-image data in ``single_image``).

Dataset protocol (the trainer relies on it for an exact resume): map-style; ``dataset[(index, seed)]``
builds ``random.Random(seed)`` and takes every random choice (B index, crop, flip) from it, so an item
depends on nothing but its key. Items are dicts of tensors only (``real_A``, ``real_B``: C×H×W in
[-1, 1]), so the default collate works; file lists stay attributes of the dataset.
"""
from __future__ import annotations

import math
import random

import attrs
import torch
import torch.nn.functional as F
from attrs import validators as v

from .demo import DemoDataset, demo_name
# image files and folders live in .images (single_image uses them too); imported from here as before
from .images import (IMG_EXTENSIONS, DataError, check_headers, existing_root, file_channels, find_images,  # noqa: F401
                     image_list, load_image, phase_folder, save_image, to_channels, to_uint8)
from .single_image import SingleImagePair, single_image_paths

# ----------------------------------------------------------------------------------- preprocessing
MODES = ("resize_and_crop", "crop", "scale_width_and_crop", "none")


@attrs.frozen
class Preprocess:
    """Reference preprocessing (CUT/CycleGAN ``base_dataset``): resize, random crop, random flip.

    ``draw`` takes the random choices for an image size, ``apply`` carries them out; aligned pairs
    draw once and apply the same choices to both halves.
    """

    load_size: int = attrs.field(default=286, validator=v.gt(0))
    crop_size: int = attrs.field(default=256, validator=v.gt(0))
    flip: bool = True
    mode: str = attrs.field(default="resize_and_crop", validator=v.in_(MODES))

    def __attrs_post_init__(self):
        if self.mode in ("resize_and_crop", "scale_width_and_crop") and self.load_size < self.crop_size:
            raise DataError(f"load size {self.load_size} is smaller than the crop size {self.crop_size}")

    def resized(self, height: int, width: int) -> tuple[int, int]:
        load, crop = self.load_size, self.crop_size
        if self.mode == "resize_and_crop":
            return load, load  # aspect ignored, as in the reference
        if self.mode == "scale_width_and_crop":
            return int(max(load * height / width, crop)), load
        if self.mode == "none":  # keep the size, but the ResNet generator needs multiples of 4
            return max(4, round(height / 4) * 4), max(4, round(width / 4) * 4)
        # "crop": keep the size; an image smaller than the crop is scaled up (aspect kept) to fit it
        scale = max(1.0, crop / height, crop / width)
        return math.ceil(height * scale), math.ceil(width * scale)

    def draw(self, height: int, width: int, rng: random.Random) -> dict:
        size = self.resized(height, width)
        top = left = None
        if self.mode != "none":
            left = rng.randint(0, size[1] - self.crop_size)  # both ends inclusive, as in the reference
            top = rng.randint(0, size[0] - self.crop_size)
        return {"size": size, "top": top, "left": left, "flip": self.flip and rng.random() < 0.5}

    def apply(self, image: torch.Tensor, choice: dict) -> torch.Tensor:
        """[0, 1] C×H×W → [-1, 1] C×h×w."""
        if tuple(image.shape[-2:]) != choice["size"]:
            image = F.interpolate(image[None], size=choice["size"], mode="bicubic", antialias=True,
                                  align_corners=False)[0].clamp(0, 1)
        if choice["top"] is not None:
            top, left, crop = choice["top"], choice["left"], self.crop_size
            image = image[:, top:top + crop, left:left + crop]
        if choice["flip"]:
            image = image.flip(-1)
        return image * 2 - 1

    def __call__(self, image: torch.Tensor, rng: random.Random) -> torch.Tensor:
        return self.apply(image, self.draw(*image.shape[-2:], rng))


# ---------------------------------------------------------------------------------- folder datasets
class UnalignedFolders(torch.utils.data.Dataset):
    """``root/trainA`` and ``root/trainB`` (CycleGAN layout); A at index mod |A|, B at a random index."""

    def __init__(self, root, phase: str = "train", channels_A: int = 3, channels_B: int = 3,
                 preprocess: Preprocess | None = None):
        root = existing_root(root)
        self.files_A = image_list(phase_folder(root, phase, "A"))
        self.files_B = image_list(phase_folder(root, phase, "B"))
        check_headers(self.files_A + self.files_B)
        self.channels_A, self.channels_B = channels_A, channels_B
        self.preprocess = preprocess or Preprocess()

    def __len__(self) -> int:
        return max(len(self.files_A), len(self.files_B))

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        rng = random.Random(seed)
        path_B = self.files_B[rng.randrange(len(self.files_B))]
        path_A = self.files_A[index % len(self.files_A)]
        real_A = self.preprocess(load_image(path_A, self.channels_A), rng)
        real_B = self.preprocess(load_image(path_B, self.channels_B), rng)  # its own crop and flip
        return {"real_A": real_A, "real_B": real_B}


class AlignedFolder(torch.utils.data.Dataset):
    """``root/train/*``: A and B side by side in each file (A left); one crop and flip for both halves.

    The halves are int(w/2) wide; with an odd width the last column is dropped so that they match.
    """

    def __init__(self, root, phase: str = "train", channels_A: int = 3, channels_B: int = 3,
                 preprocess: Preprocess | None = None):
        root = existing_root(root)
        self.files = image_list(phase_folder(root, phase, ""))
        for path, (width, _, _) in zip(self.files, check_headers(self.files)):
            if width < 2:
                raise DataError(f"{path} is {width} pixel wide: an aligned file holds A and B side by side, "
                                f"so it needs at least 2")
        self.channels_A, self.channels_B = channels_A, channels_B
        self.preprocess = preprocess or Preprocess()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        both = load_image(self.files[index], max(self.channels_A, self.channels_B))
        half = both.shape[-1] // 2
        image_A, image_B = both[..., :half], both[..., half:2 * half]
        choice = self.preprocess.draw(*image_A.shape[-2:], random.Random(seed))
        return {
            "real_A": self.preprocess.apply(to_channels(image_A, self.channels_A), choice),
            "real_B": self.preprocess.apply(to_channels(image_B, self.channels_B), choice),
        }


class SwapAB(torch.utils.data.Dataset):
    """Direction B→A: the same dataset with real_A and real_B exchanged in every item."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key) -> dict:
        item = dict(self.dataset[key])
        item["real_A"], item["real_B"] = item["real_B"], item["real_A"]
        return item

    def __getattr__(self, name):  # file lists and settings of the wrapped dataset
        if name == "dataset":  # not set yet (unpickling in a DataLoader worker): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def detect_channels(spec: str, direction: str = "AtoB", paired: bool = False,
                    notes: list | None = None) -> tuple[int, int]:
    """(input, output) channel counts of a data folder (or of ``A.png,B.png``), from every file's
    header: a domain that mixes gray and colour files is colour, and ``notes`` gets a line saying so."""
    if "," in spec:
        counts = tuple(file_channels(path) for path in single_image_paths(spec))
        return counts if direction == "AtoB" else counts[::-1]
    root = existing_root(spec)
    if paired:
        return (_domain_channels(phase_folder(root, "train", ""), notes),) * 2
    counts = tuple(_domain_channels(phase_folder(root, "train", side), notes) for side in "AB")
    return counts if direction == "AtoB" else counts[::-1]


def _domain_channels(folder, notes: list | None) -> int:
    files = image_list(folder)
    counts = [header[2] for header in check_headers(files)]
    gray = counts.count(1)
    if 0 < gray < len(counts) and notes is not None:
        notes.append(f"{folder} mixes {gray} gray and {len(counts) - gray} colour images: "
                     f"training it in colour (gray images repeated on 3 channels)")
    return max(counts)


def open_dataset(spec: str, *, paired: bool, phase: str, image_size: int, channels: int = 3,
                 channels_B: int | None = None, direction: str = "AtoB", load_size: int | None = None, preprocess_mode: str = "resize_and_crop",
                 flip: bool = True, length: int | None = None):
    """"demo" / "demo:NAME" → the procedural domains at image_size (no augmentation, ``length`` items);
    a folder → AlignedFolder if ``paired`` else UnalignedFolders, resized to load_size (default
    image_size·286/256 for training, image_size otherwise, as the reference tests) and cropped to
    image_size. ``length`` applies to demo data only; a folder's length is its number of files.
    ``preprocess_mode="zoom_and_patch"`` (SinCUT) → :class:`~i2i_core.single_image.SingleImagePair`
    on a folder with one image per domain or on ``A.png,B.png``, crops of image_size."""
    if direction not in ("AtoB", "BtoA"):
        raise DataError(f"direction must be AtoB or BtoA, not {direction!r}")
    try:
        name = demo_name(spec)
    except ValueError as error:
        raise DataError(str(error)) from None
    if name is not None:
        if channels != 3 or channels_B not in (None, 3):
            raise DataError(f"demo data is RGB: channels must be 3, not {channels}")
        split = "train" if phase == "train" else "test"
        dataset = DemoDataset(name, split=split, paired=paired, res=image_size, length=length)
    elif preprocess_mode == "zoom_and_patch":
        first, second = channels, channels if channels_B is None else channels_B
        if direction == "BtoA":
            first, second = second, first
        dataset = SingleImagePair(*single_image_paths(spec), crop=image_size, phase=phase, flip=flip,
                                  channels_A=first, channels_B=second)
    else:
        if load_size is None:
            load_size = round(image_size * 286 / 256) if phase == "train" else image_size
        preprocess = Preprocess(load_size=load_size, crop_size=image_size, flip=flip, mode=preprocess_mode)
        kind = AlignedFolder if paired else UnalignedFolders
        # The files' domains are named before any swap, so their channel counts follow the direction.
        first, second = channels, channels if channels_B is None else channels_B
        if direction == "BtoA":
            first, second = second, first
        dataset = kind(spec, phase=phase, channels_A=first, channels_B=second, preprocess=preprocess)
    return SwapAB(dataset) if direction == "BtoA" else dataset
