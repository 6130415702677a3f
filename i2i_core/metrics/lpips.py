"""LPIPS (Zhang et al. 2018) with user-supplied weights: our AlexNet / VGG16 feature stacks, whose
state-dict keys match torchvision's (``features.0.weight`` ...), plus the published linear layers.

    d(x, x₀) = Σ_l 1/(H_l W_l) Σ_{h,w} ‖ w_l ⊙ (ŷ^l_{hw} − ŷ^l_{0,hw}) ‖²₂

ŷ^l: the activations of tap l scaled to unit L2 norm over channels (eps 1e-10); w_l ≥ 0: a 1×1
conv without bias (``linN.model.1.weight``, shape 1×C×1×1). Inputs in [−1, 1]; v0.1 first shifts
and scales them (shift (−0.030, −0.088, −0.188), scale (0.458, 0.448, 0.450)), v0.0 does not.
Taps: AlexNet's 5 ReLUs (64, 192, 384, 256, 256 channels); VGG16's relu1_2 ... relu5_3.

The linear layers come from ``--lpips-lin PATH`` or from an installed ``lpips`` or ``torchmetrics``
package directory, found without importing the package (importing lpips imports torchvision).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from ..errors import I2IError
from . import weights

VERSIONS = ("0.1", "0.0")
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class TorchvisionFeatures(nn.Module):
    """A torchvision ``features`` stack (same indices, same keys) that returns its tap outputs."""

    channels: tuple = ()
    taps: tuple = ()

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.features = nn.Sequential(*layers)

    def forward(self, x) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                taps.append(x)
        return taps

    def load_torchvision(self, state: dict) -> "TorchvisionFeatures":
        """Load the ``features.*`` entries of a torchvision-layout state dict (the classifier is ignored)."""
        own = self.state_dict()
        missing = [key for key in own if key not in state]
        if missing:
            raise I2IError(f"{type(self).__name__}: the state dict lacks {', '.join(missing[:4])}"
                           + (" ..." if len(missing) > 4 else "") + " (not a torchvision-layout backbone)")
        self.load_state_dict({key: state[key] for key in own}, strict=True)
        return self


class AlexNetFeatures(TorchvisionFeatures):
    """torchvision ``alexnet().features`` up to its last ReLU; taps the 5 ReLU outputs."""

    channels = (64, 192, 384, 256, 256)
    taps = (1, 4, 7, 9, 11)

    def __init__(self):
        super().__init__([
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU()])


def _vgg16_layers() -> list[nn.Module]:
    layers, channels = [], 3
    for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
    return layers


class VGG16Features(TorchvisionFeatures):
    """torchvision ``vgg16().features`` up to relu5_3; taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

    channels = (64, 128, 256, 512, 512)
    taps = (3, 8, 15, 22, 29)

    def __init__(self):
        super().__init__(_vgg16_layers())


BACKBONE_CLASSES = {"alex": AlexNetFeatures, "vgg": VGG16Features}


class LinearLayer(nn.Module):
    """The lpips ``NetLinLayer``: dropout (inactive in eval) then a 1×1 conv to one channel, no bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x):
        return self.model(x)


def unit_normalise(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return features / (features.pow(2).sum(1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    def __init__(self, net: str = "alex", version: str = "0.1"):
        super().__init__()
        if net not in BACKBONE_CLASSES:
            raise I2IError(f"unknown LPIPS backbone {net!r}; valid: {', '.join(BACKBONE_CLASSES)}")
        if version not in VERSIONS:
            raise I2IError(f"unknown LPIPS version {version!r}; valid: {', '.join(VERSIONS)}")
        self.net_name, self.version = net, version
        self.net = BACKBONE_CLASSES[net]()
        for index, channels in enumerate(self.net.channels):
            setattr(self, f"lin{index}", LinearLayer(channels))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def linear_layers(self) -> list[LinearLayer]:
        return [getattr(self, f"lin{i}") for i in range(len(self.net.channels))]

    def load_linear(self, state: dict) -> "LPIPS":
        wanted = {f"lin{i}.model.1.weight" for i in range(len(self.net.channels))}
        if set(state) != wanted:
            raise I2IError(f"LPIPS linear layers: expected keys {sorted(wanted)}, found {sorted(state)}")
        for i, layer in enumerate(self.linear_layers()):
            layer.model[1].weight.data.copy_(state[f"lin{i}.model.1.weight"])
        return self

    def layer_maps(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per tap, the N×1×H_l×W_l map of weighted squared differences; inputs in [−1, 1]."""
        if self.version == "0.1":
            x, y = (x - self.shift) / self.scale, (y - self.shift) / self.scale
        maps = []
        for fx, fy, lin in zip(self.net(x), self.net(y), self.linear_layers()):
            maps.append(lin((unit_normalise(fx) - unit_normalise(fy)) ** 2))
        return maps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sum(m.mean((2, 3)) for m in self.layer_maps(x, y)).flatten()


# ------------------------------------------------------------------------------------ weight files
def packaged_linear_candidates(net: str, version: str) -> list[Path]:
    """Where installed lpips / torchmetrics keep the linear layers, found without importing them."""
    found = []
    layouts = [("lpips", Path("weights") / f"v{version}" / f"{net}.pth")]
    if version == "0.1":
        layouts.append(("torchmetrics", Path("functional") / "image" / "lpips_models" / f"{net}.pth"))
    for package, relative in layouts:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for folder in (spec.submodule_search_locations or []) if spec else []:
            found.append(Path(folder) / relative)
    return found


def locate_linear(net: str, version: str, explicit: Path | None = None) -> tuple[Path, str]:
    known = weights.LPIPS_LINEAR.get(net) if version == "0.1" else None
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise I2IError(f"--lpips-lin {path} does not exist")
        return path, weights.verify(path, known) if known else weights.sha256_of(path)
    candidates = packaged_linear_candidates(net, version)
    for path in candidates:
        if path.is_file():
            return path, weights.verify(path, known) if known else weights.sha256_of(path)
    what = known.describe() if known else f"{net}.pth (LPIPS v{version} linear layers)"
    searched = ", ".join(str(p) for p in candidates) or "no lpips or torchmetrics package is installed"
    raise I2IError(f"missing LPIPS linear layers {what}; searched: --lpips-lin (not given); {searched}. "
                   "`pip install --no-deps lpips` provides them, or pass --lpips-lin PATH")


def load_lpips(net: str = "alex", version: str = "0.1", backbone: Path | None = None,
               linear: Path | None = None) -> tuple[LPIPS, dict]:
    """(LPIPS in eval mode, what the report records about its files)."""
    model = LPIPS(net, version)
    backbone_path, backbone_digest = weights.locate(weights.BACKBONES[net], backbone, option="--lpips-backbone")
    linear_path, linear_digest = locate_linear(net, version, linear)
    model.net.load_torchvision(weights.load_state_dict(backbone_path))
    model.load_linear(weights.load_state_dict(linear_path))
    return model.eval(), {"lpips_net": net, "lpips_version": version, "backbone": str(backbone_path),
                          "features_sha256": backbone_digest, "linear": str(linear_path),
                          "linear_sha256": linear_digest}
