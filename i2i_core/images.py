"""Image files and data folders: reading, writing and finding images, and the ``trainA``/``trainB``
folder layout. The folder datasets (``data``) and single-image data (``single_image``) both build on
it, so neither needs the other's module for these.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import I2IError

# All-lower or all-upper case, as the reference accepts them.
IMG_EXTENSIONS = frozenset(
    e for ext in ("jpg", "jpeg", "png", "ppm", "bmp", "tif", "tiff") for e in ("." + ext, "." + ext.upper())
)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
GRAY_MODES = ("1", "L", "LA", "La")
LUMINANCE = torch.tensor([0.299, 0.587, 0.114])
READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class DataError(I2IError):
    """A data folder, image file or data spec that cannot be used; the message names it."""


def find_images(folder) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.suffix in IMG_EXTENSIONS and p.is_file())


def to_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """1 ↔ 3 channels: luminance (ITU-R 601 weights) or a replicated gray."""
    if image.shape[0] == channels:
        return image
    if channels == 1:
        return torch.einsum("chw,c->hw", image, LUMINANCE)[None]
    if channels == 3:
        return image.expand(3, -1, -1).contiguous()
    raise ValueError(f"images have 1 or 3 channels, not {channels}")


def load_image(path, channels: int | None = 3) -> torch.Tensor:
    """float32 C×H×W in [0, 1]; 8- and 16-bit, gray, gray+alpha, RGBA (alpha dropped) and palette files.

    ``channels=None`` keeps the file's own: 1 for gray modes, 3 otherwise."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in SIXTEEN_BIT_MODES:
                pixels = np.asarray(image, dtype=np.float32) / 65535
            elif image.mode == "F":  # float TIFF: taken to be in [0, 1] already
                pixels = np.asarray(image, dtype=np.float32)
            elif image.mode in GRAY_MODES:
                pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255
            else:  # RGB, RGBA (alpha simply dropped), P, CMYK, YCbCr ...
                pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    except READ_ERRORS as error:
        raise DataError(f"{path}: cannot read image ({error})") from None
    tensor = torch.from_numpy(pixels.clip(0, 1))
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return tensor if channels is None else to_channels(tensor, channels)


def _channels(mode: str) -> int:
    return 1 if mode in GRAY_MODES or mode in SIXTEEN_BIT_MODES or mode == "F" else 3


def file_channels(path) -> int:
    """1 for a gray image file, 3 otherwise, from its header alone."""
    return read_header(path)[2]


def read_header(path) -> tuple[int, int, int]:
    """(width, height, channels) of an image file, its structure checked without decoding it;
    a DataError naming the file when it is broken. Each file is read once while it is unchanged:
    the channel count and the dataset both ask before step 1."""
    try:
        stat = Path(path).stat()
    except OSError as error:
        raise DataError(f"{path}: cannot read image ({error.strerror})") from None
    return _read_header(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=None)
def _read_header(path: str, mtime: int, size: int) -> tuple[int, int, int]:
    try:
        with Image.open(path) as image:  # parses the header only
            width, height = image.size
            if 0 in image.size:
                raise ValueError(f"empty size {image.size}")
            mode, kind = image.mode, image.format
            image.verify()  # chunk checksums and structure, no decoding (PNG; a no-op for JPEG)
        if kind == "JPEG" and not _ends_with_eoi(path):
            with Image.open(path) as image:  # decoding names a truncated file; data after the image is fine
                image.load()
    except READ_ERRORS as error:
        raise DataError(f"{path}: cannot read image ({error})") from None
    return width, height, _channels(mode)


def _ends_with_eoi(path: str) -> bool:
    """Whether a JPEG's last bytes hold its end-of-image marker, which a truncated file lacks."""
    with open(path, "rb") as f:
        f.seek(max(0, os.fstat(f.fileno()).st_size - 1024))
        return b"\xff\xd9" in f.read()


def check_headers(paths) -> list[tuple[int, int, int]]:
    """Every file's (width, height, channels), so a broken file stops the run before step 1
    instead of in the middle of an epoch."""
    return [read_header(path) for path in paths]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """C×H×W in [-1, 1] → H×W×C uint8, truncating like the reference: floor((x + 1) / 2 · 255)."""
    scaled = ((image.detach().float().cpu().clamp(-1, 1) + 1) / 2 * 255).floor()
    return scaled.to(torch.uint8).permute(1, 2, 0).numpy()


def save_image(image: torch.Tensor, path) -> None:
    """Writes a C×H×W tensor in [-1, 1] as PNG ("L" for 1 channel, "RGB" for 3)."""
    pixels = to_uint8(image)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(path)


# ------------------------------------------------------------------------------------ folder layout
def _layout_error(root: Path, phase: str) -> DataError:
    return DataError(
        f"{root} does not have the expected layout: expected {root / (phase + 'A')} and "
        f"{root / (phase + 'B')} (unaligned) or {root / phase} with A|B side-by-side images (aligned)"
    )


def image_list(folder: Path) -> list[Path]:
    files = find_images(folder)
    if not files:
        raise DataError(f"{folder} contains no images (jpg, jpeg, png, ppm, bmp, tif, tiff)")
    return files


def phase_folder(root: Path, phase: str, suffix: str) -> Path:
    """root/{phase}{suffix}; the test phase falls back to the val split when there is no test split."""
    folder = root / (phase + suffix)
    if not folder.is_dir() and phase == "test" and (root / ("val" + suffix)).is_dir():
        return root / ("val" + suffix)
    if not folder.is_dir():
        raise _layout_error(root, phase)
    return folder


def existing_root(root) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    return root
