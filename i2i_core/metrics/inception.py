"""The FID Inception: TF Inception (2015-12-05) in torchvision's Inception3 layout, as pytorch-fid ports it.

State-dict keys match ``pt_inception-2015-12-05-6726825d.pth`` (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch_pool.bn.running_var``, ``fc.weight`` of 1008 classes, no ``AuxLogits``), so the
published file loads; torchvision is not imported. The TF graph differs from torchvision's own
network: the pooling branches of the A, C and first E blocks average without counting padding,
and the last E block (``Mixed_7c``) pools with max. Features are the 2048-d pool3 output.

Input conventions (``--fid-resize``), for images given as uint8:
- ``pytorch-fid`` (default): x/255, bilinear to 299×299 (align_corners=False, no antialias), 2x − 1.
- ``clean``: each channel resized as float32 with PIL bicubic (antialiased) to 299, clipped to
  [0, 255] (bicubic overshoots at edges), no requantisation, then x/255·2 − 1 (clean-fid's "clean"
  mode, on this network).
- ``tf1``: TF1's ``resize_bilinear`` (align_corners=False: source = destination·in/out, no half-pixel
  offset), then (x − 128)/128, as torch-fidelity.
IS uses the logits ``pool3 · fc.weightᵀ`` without the bias, as the TF Inception Score code (and
torch-fidelity's ``logits_unbiased``) does; they are computed from the pool3 features that FID/KID
already hold, so IS costs no second pass through the network.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import weights
from .errors import TooFewSamples

RESIZE_MODES = ("pytorch-fid", "clean", "tf1")
SIZE = 299
CLASSES = 1008


class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _average_pool(x):  # TF's average pooling ignores the padded zeros
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_average_pool(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, in_channels, channels_7x7):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), seven, double, self.branch_pool(_average_pool(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), seven, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    def __init__(self, in_channels, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # True for Mixed_7c, as in the TF graph
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        three = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _average_pool(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(three), self.branch3x3_2b(three),
                          self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double), self.branch_pool(pooled)], 1)


class FIDInception(nn.Module):
    """Input N×3×299×299 in [−1, 1] → (pool3 N×2048, logits N×1008 without the fc bias)."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, CLASSES)

    def forward(self, x):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        pool3 = x.mean((2, 3))
        return pool3, pool3 @ self.fc.weight.T

    def load_published(self, state: dict) -> "FIDInception":
        """Load a state dict of the published layout; files saved before torch 0.4.1 lack the
        BatchNorm ``num_batches_tracked`` counters, which FID never reads."""
        state = dict(state)
        for key, value in self.state_dict().items():
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = value
        self.load_state_dict(state, strict=True)
        return self


# ------------------------------------------------------------------------------------ resizing
def _tf1_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 ``resize_bilinear(align_corners=False)``: source = destination · in/out, clamped at the edge."""
    def weights_for(length):
        source = torch.arange(size, dtype=torch.float64) * (length / size)
        low = source.floor().long().clamp(max=length - 1)
        high = (low + 1).clamp(max=length - 1)
        frac = (source - low).to(x.dtype)
        return low, high, frac

    h_low, h_high, h_frac = weights_for(x.shape[-2])
    w_low, w_high, w_frac = weights_for(x.shape[-1])
    rows = x[..., h_low, :] * (1 - h_frac)[:, None] + x[..., h_high, :] * h_frac[:, None]
    return rows[..., w_low] * (1 - w_frac) + rows[..., w_high] * w_frac


def _pil_bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    from PIL import Image

    out = np.empty((x.shape[0], x.shape[1], size, size), np.float32)
    array = x.cpu().numpy().astype(np.float32)
    for n in range(array.shape[0]):
        for c in range(array.shape[1]):
            channel = Image.fromarray(array[n, c], mode="F")
            out[n, c] = np.asarray(channel.resize((size, size), resample=Image.BICUBIC))
    return torch.from_numpy(out).to(x.device)


def prepare(images: torch.Tensor, mode: str = "pytorch-fid") -> torch.Tensor:
    """uint8 N×3×H×W → the network's N×3×299×299 input in [−1, 1] under a resize convention."""
    x = images.float()
    if mode == "pytorch-fid":
        x = F.interpolate(x / 255, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        return x * 2 - 1
    if mode == "clean":
        return _pil_bicubic(x, SIZE).clamp(0, 255) / 255 * 2 - 1
    if mode == "tf1":
        return (_tf1_bilinear(x, SIZE) - 128) / 128
    raise ValueError(f"unknown FID resize mode {mode!r}; valid: {', '.join(RESIZE_MODES)}")


RESIZE_DESCRIPTIONS = {
    "pytorch-fid": "pytorch-fid: bilinear 299 (align_corners=False, no antialias) on x/255, then 2x-1",
    "clean": "clean: PIL bicubic 299 per channel as float32 (antialiased), clipped to [0, 255], no requantisation, "
             "then x/255*2-1",
    "tf1": "tf1: TF1 resize_bilinear 299 (align_corners=False), then (x-128)/128",
}


def load_inception(path: Path | None = None, check: bool = True) -> tuple[FIDInception, str | None]:
    """(network in eval mode, file sha256). ``check=False`` loads ``path`` as is (tests of the
    layout with random weights); otherwise the file is located and its sha256 verified."""
    if check:
        path, digest = weights.locate(weights.INCEPTION, path, option="--inception")
    else:
        digest = None
    net = FIDInception().load_published(weights.load_state_dict(path))
    # A measuring network: with trainable weights, any call outside no_grad would keep its whole graph.
    return net.requires_grad_(False).eval(), digest


def inception_score(logits: torch.Tensor, splits: int = 10) -> dict:
    """IS = exp(E_x KL(p(y|x) ‖ p(y))), mean and std over ``splits`` equal parts (fewer when N is small)."""
    n = logits.shape[0]
    splits = max(1, min(splits, n // 2))
    if n < 2:
        raise TooFewSamples(f"IS needs at least 2 images, got {n}")
    probabilities = torch.softmax(logits.double(), dim=1)
    scores = []
    for part in torch.tensor_split(probabilities, splits):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.clamp(min=1e-30).log() - marginal.clamp(min=1e-30).log())).sum(1).mean()
        scores.append(kl.exp())
    scores = torch.stack(scores)
    return {"value": float(scores.mean()), "std": float(scores.std(unbiased=False)), "splits": int(splits),
            "logits": "pool3 @ fc.weight.T (no bias), 1008 classes"}
