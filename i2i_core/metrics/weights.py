"""Weight files the user supplies, under the names pytorch-fid and torchvision publish them with:
found, checked, never downloaded.

Search order for a file: the explicit option (a file, or a folder holding it), then
``$I2I_WEIGHTS_DIR``, then torch's hub checkpoint folder (``$TORCH_HOME/hub/checkpoints``,
by default ``~/.cache/torch/hub/checkpoints``). torch.hub does not verify a cached file, so we
do: the full sha256 where it is published, else the 8-hex prefix that the file name carries.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import attrs
import torch

from ..errors import I2IError


@attrs.frozen
class WeightFile:
    name: str
    purpose: str
    size: int | None = None  # bytes, where known exactly
    approx_size: str = ""  # for the message when the exact size is not known
    sha256: str | None = None
    sha256_prefix: str = ""
    sha256_suffix: str = ""
    aliases: tuple = ()  # other names of the same bytes

    def describe(self) -> str:
        size = f"{self.size:,} bytes" if self.size else self.approx_size
        if self.sha256:
            digest = f"sha256 {self.sha256}"
        else:
            ending = f" and ending {self.sha256_suffix}" if self.sha256_suffix else ""
            digest = f"sha256 starting {self.sha256_prefix}{ending}"
        return f"{self.name} ({self.purpose}; {size}; {digest})"

    def check(self, digest: str) -> bool:
        if self.sha256:
            return digest == self.sha256
        return digest.startswith(self.sha256_prefix) and digest.endswith(self.sha256_suffix)


INCEPTION = WeightFile(
    name="pt_inception-2015-12-05-6726825d.pth", purpose="FID/KID/IS Inception, the pytorch-fid port of TF Inception",
    size=95_628_359, sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    aliases=("weights-inception-2015-12-05-6726825d.pth",))
ALEXNET = WeightFile(name="alexnet-owt-7be5be79.pth", purpose="LPIPS AlexNet backbone, torchvision layout",
                     approx_size="about 233 MiB", sha256_prefix="7be5be79")
VGG16 = WeightFile(name="vgg16-397923af.pth", purpose="LPIPS VGG16 backbone, torchvision layout",
                   approx_size="about 528 MiB", sha256_prefix="397923af")
BACKBONES = {"alex": ALEXNET, "vgg": VGG16}
# The v0.1 linear layers shipped in the lpips wheel (and byte-identical in torchmetrics).
LPIPS_LINEAR = {
    "alex": WeightFile(name="alex.pth", purpose="LPIPS v0.1 linear layers for AlexNet", size=6_009,
                       sha256_prefix="df73285e", sha256_suffix="0835c0"),
    "vgg": WeightFile(name="vgg.pth", purpose="LPIPS v0.1 linear layers for VGG16", size=7_289,
                      sha256_prefix="a78928a0", sha256_suffix="432868"),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def search_places(explicit: Path | None, option: str) -> list[tuple[str, Path | None]]:
    """(description, folder or file) in search order; None where a place is not set."""
    weights_dir = os.environ.get("I2I_WEIGHTS_DIR")
    return [(option, Path(explicit) if explicit else None),
            ("$I2I_WEIGHTS_DIR", Path(weights_dir) if weights_dir else None),
            ("torch hub checkpoints", hub_checkpoints())]


def locate(file: WeightFile, explicit: Path | None = None, option: str = "--weights") -> tuple[Path, str]:
    """(path, sha256) of ``file``, verified; I2IError naming the file and every place searched."""
    looked = []
    for label, place in search_places(explicit, option):
        if place is None:
            looked.append(f"{label} (not given)" if label.startswith("--") else f"{label} (not set)")
            continue
        candidates = [place] if place.is_file() else [place / name for name in (file.name, *file.aliases)]
        looked.append(f"{label} {place}" if place.is_file() else f"{label} {place / file.name}")
        for path in candidates:
            if path.is_file():
                return path, verify(path, file)
        if label.startswith("--") and not place.exists():
            raise I2IError(f"{option} {place} does not exist; it should be {file.describe()}")
    raise I2IError(f"missing weight file {file.describe()}; searched: {'; '.join(looked)}. "
                   "i2i never downloads weights: place the file in one of these (see README, Evaluation)")


def verify(path: Path, file: WeightFile) -> str:
    digest = sha256_of(path)
    if not file.check(digest):
        expected = file.sha256 or f"{file.sha256_prefix}…{file.sha256_suffix}"
        raise I2IError(f"{path}: sha256 {digest} does not match {file.name} (expected {expected}); "
                       "the file is damaged or a different network")
    return digest


def load_state_dict(path: Path) -> dict:
    """A plain state dict of tensors (``weights_only``: a file that needs code to unpickle is refused)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types; all mean the same to the user
        raise I2IError(f"{path}: not a loadable state dict of tensors ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise I2IError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state
