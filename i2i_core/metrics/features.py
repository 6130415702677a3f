"""Feature spaces for distribution metrics; the defaults need no weight file.

- ``pixel16``: each image area-averaged to 16×16 RGB, values in [0, 1] (768-d).
- ``rand@SEED``: a random CNN fixed by its seed and its recorded architecture (below); the
  report carries the sha256 of its state dict, so two machines can check they used the same net.
- ``inception``: the FID Inception (pool3, 2048-d, the network of inception.py) from the user's
  weight file.

None of these except ``inception`` gives FID: results are named ``fd_pixel16``, ``fd_rand@0``.
Images enter every extractor as uint8 N×3×H×W tensors (what a PNG decode gives).
"""
from __future__ import annotations

import hashlib

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import I2IError
from .inception import RESIZE_DESCRIPTIONS, RESIZE_MODES, load_inception, prepare

RANDOM_CNN_INPUT = 64
RANDOM_CNN_WIDTHS = (32, 64, 128, 256)
RANDOM_CNN_ARCHITECTURE = (
    f"resize {RANDOM_CNN_INPUT}x{RANDOM_CNN_INPUT} (bilinear, antialias), x*2-1; "
    + " -> ".join(f"conv4x4 s2 p1 {w} + LeakyReLU(0.2)" for w in RANDOM_CNN_WIDTHS)
    + "; global average pool (256-d); weights N(0, 2/fan_in), bias 0, from torch.Generator(seed)")


def state_dict_sha256(state: dict) -> str:
    """sha256 over (name, dtype, shape, little-endian bytes) of every tensor, in key order."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


@attrs.define(eq=False)
class FeatureSpace:
    """A named extractor: ``embed(uint8 images) -> float features`` plus what the report records."""

    id: str
    embed: object
    resize: str
    architecture: str
    sha256: str | None = None
    dim: int = 0
    batch_size: int = 100
    logits: object = None  # Inception only: its features (pool3) → float64 class logits, for IS

    def __call__(self, images: torch.Tensor, device="cpu", progress: bool = False) -> torch.Tensor:
        """N×3×H×W uint8 → N×dim float64 (on the CPU)."""
        from tqdm import tqdm

        out = []
        starts = range(0, images.shape[0], self.batch_size)
        for start in tqdm(starts, desc=f"features {self.id}", unit="batch", disable=None if progress else True,
                          leave=False):
            with torch.no_grad():
                batch = images[start:start + self.batch_size].to(device)
                out.append(self.embed(batch).double().cpu())
        return torch.cat(out) if out else torch.zeros(0, self.dim, dtype=torch.float64)

    def record(self) -> dict:
        return {"features": self.id, "features_sha256": self.sha256, "features_architecture": self.architecture,
                "resize": self.resize, "dtype": "float32 features, float64 statistics"}


def pixel16(images: torch.Tensor) -> torch.Tensor:
    x = images.float() / 255
    return F.interpolate(x, size=(16, 16), mode="area").flatten(1)


class RandomCNN(nn.Module):
    def __init__(self, seed: int):
        super().__init__()
        layers, channels = [], 3
        for width in RANDOM_CNN_WIDTHS:
            layers += [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = width
        self.body = nn.Sequential(*layers)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.body:
                if isinstance(module, nn.Conv2d):
                    fan_in = module.weight[0].numel()
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                    module.bias.zero_()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255
        x = F.interpolate(x, size=(RANDOM_CNN_INPUT, RANDOM_CNN_INPUT), mode="bilinear", align_corners=False,
                          antialias=True)
        return self.body(x * 2 - 1).mean((2, 3))


def feature_space(name: str, *, inception: str | None = None, fid_resize: str = "pytorch-fid",
                  device="cpu") -> FeatureSpace:
    """``pixel16``, ``rand@SEED`` or ``inception`` (which needs the user's weight file)."""
    if name == "pixel16":
        return FeatureSpace(id="pixel16", embed=pixel16, resize="area 16x16 (adaptive average)",
                            architecture="pixels: area-average to 16x16, RGB in [0, 1], flattened (768-d)", dim=768)
    if name.startswith("rand@"):
        try:
            seed = int(name[len("rand@"):])
        except ValueError:
            raise I2IError(f"feature space {name!r}: expected rand@SEED with an integer seed") from None
        net = RandomCNN(seed).requires_grad_(False).eval().to(device)
        return FeatureSpace(id=name, embed=net, resize=f"bilinear antialias to {RANDOM_CNN_INPUT}x{RANDOM_CNN_INPUT}",
                            architecture=RANDOM_CNN_ARCHITECTURE, sha256=state_dict_sha256(net.state_dict()),
                            dim=RANDOM_CNN_WIDTHS[-1])
    if name == "inception":
        return inception_feature_space(inception, fid_resize, device)
    raise I2IError(f"unknown feature space {name!r}; valid: pixel16, rand@SEED (e.g. rand@0), inception")


def inception_feature_space(path, resize: str = "pytorch-fid", device="cpu", check: bool = True):
    """The FID Inception's pool3 features (2048-d) from the weight file at ``path``, with images
    resized as ``resize`` says (inception.py's module docstring); ``logits`` gives IS its logits."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown --fid-resize {resize!r}; valid: {', '.join(RESIZE_MODES)}")
    net, digest = load_inception(path, check=check)
    net = net.to(device)

    def embed(images):
        with torch.no_grad():
            return net(prepare(images, resize).to(device))[0]

    fc_weight = net.fc.weight.detach().double().cpu()

    def logits(pool3):
        return pool3.to(fc_weight) @ fc_weight.T

    return FeatureSpace(id="inception", embed=embed, resize=RESIZE_DESCRIPTIONS[resize],
                        architecture="TF Inception 2015-12-05 (pytorch-fid port), pool3 2048-d", sha256=digest,
                        dim=2048, batch_size=50, logits=logits)
