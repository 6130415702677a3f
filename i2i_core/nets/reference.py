"""Load a released CycleGAN / pix2pix / CUT network file by inferring its architecture from its keys.

Only a ``state_dict`` is stored in those files (the reference code's models/base_model.py,
save_networks), so the architecture is read off the key names and tensor shapes:

* ResNet generator: ``conv_block`` keys; ngf and input channels from ``model.1.weight``; the
  block width gives the number of downsamplings; 3×3 ``filt`` buffers mean anti-aliased
  downsampling, 4×4 ones anti-aliased upsampling; a second block conv one index later than usual
  (``conv_block.6`` instead of ``.5``) means dropout; a block conv at ``conv_block.0`` means zero
  padding (reflect and replicate padding leave no trace, reflect is assumed).
* U-Net: ``model.model.*`` keys; the nesting depth is the number of levels. Dropout leaves no key,
  so it is off (it does nothing in eval mode anyway).
* PatchGAN: flat ``model.<i>`` keys of 4×4 convs ending in one output channel.

Norm, for every kind, from the first conv that is followed by a norm (models/networks.py): a 1-D ``weight`` on
the norm module means batch norm; otherwise a bias on that conv means instance norm (affine-free
instance norm has no keys at all); otherwise no norm. Under the references' bias rule this evidence
is never ambiguous; a file breaking that rule would fail the strict load and be reported.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import torch
from torch import nn

from .patchgan import PatchGAN
from .resnet import ResnetGenerator
from .unet import UnetGenerator

LEGACY_INSTANCE_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")
_TOP_INDEX = re.compile(r"^model\.(\d+)\.")


class _Mismatch(Exception):
    """The state dict is not of the kind being tried; the message says why."""


def from_reference_state_dict(state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Build the reference network that ``state_dict`` came from, load it strictly, return it in eval mode.

    Accepts a ``module.`` prefix on every key (DataParallel) and legacy InstanceNorm running-stat
    keys (dropped, as the CycleGAN reference code's load_networks does). Raises ``ValueError`` when no
    supported architecture fits.
    """
    state = _clean(state_dict)
    attempts = []
    for kind, build in _BUILDERS:
        try:
            net = build(state)
            cleaned = _drop_legacy_instance_norm_stats(net, state)
            _check_layout(net, cleaned)
        except (_Mismatch, KeyError, IndexError, ValueError) as err:
            attempts.append(f"{kind}: {_one_line(err)}")
            continue
        net.load_state_dict(cleaned, strict=True)
        return net.eval()
    first_keys = ", ".join(list(state)[:4]) or "none"
    raise ValueError(f"state dict matches no reference network (tried {'; '.join(attempts)}); "
                     f"it has {len(state)} entries, first keys: {first_keys}")


def _clean(state_dict: Mapping) -> dict[str, torch.Tensor]:
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"expected a state dict (a mapping of names to tensors), got {type(state_dict).__name__}")
    state = {key: value for key, value in state_dict.items() if key != "_metadata"}
    not_tensors = [str(key) for key, value in state.items()
                   if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ValueError(f"not a network state dict: entries {not_tensors[:3]} are not named tensors")
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return state


def _one_line(err: Exception) -> str:
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split())


def _need(state: dict[str, torch.Tensor], key: str, ndim: int | None = None) -> torch.Tensor:
    if key not in state:
        raise _Mismatch(f"no key {key!r}")
    if ndim is not None and state[key].dim() != ndim:
        raise _Mismatch(f"{key!r} has shape {tuple(state[key].shape)}, expected {ndim} dims")
    return state[key]


def _norm_from(state: dict[str, torch.Tensor], conv: str, norm: str) -> str:
    """Norm kind from the first conv that precedes a norm (see the module docstring)."""
    if f"{norm}.weight" in state:
        return "batch"
    return "instance" if f"{conv}.bias" in state else "none"


def _resnet_from(state: dict[str, torch.Tensor]) -> nn.Module:
    block_keys = [key for key in state if ".conv_block." in key]
    if not block_keys:
        raise _Mismatch("no 'conv_block' keys")
    first_block = min(int(key.split(".")[1]) for key in block_keys)
    prefix = f"model.{first_block}.conv_block."
    block_convs = sorted(int(key[len(prefix):].split(".")[0]) for key in state
                         if key.startswith(prefix) and key.endswith(".weight") and state[key].dim() == 4)
    if len(block_convs) != 2:
        raise _Mismatch(f"residual block has {len(block_convs)} convs, expected 2")
    first = _need(state, "model.1.weight", ndim=4)
    ngf, in_channels = first.shape[:2]
    width = state[f"{prefix}{block_convs[0]}.weight"].shape[0]
    n_downsampling = round(math.log2(width / ngf)) if width >= ngf else -1
    if n_downsampling < 0 or ngf * 2**n_downsampling != width:
        raise _Mismatch(f"block width {width} is not ngf {ngf} times a power of two")
    padded = block_convs[0] == 1  # zero padding has no pad module in front of the conv
    # pad, conv, norm, ReLU, [Dropout], pad, conv: the second conv sits 4 later, 5 with dropout
    plain_gap = 4 if padded else 3
    filter_sizes = {state[key].shape[-1] for key in state if key.endswith(".filt")}
    last_conv = max((key for key in state if _TOP_INDEX.match(key) and key.endswith(".weight")),
                    key=lambda key: int(key.split(".")[1]))
    return ResnetGenerator(
        in_channels=in_channels,
        out_channels=state[last_conv].shape[0],
        ngf=ngf,
        n_blocks=len({int(key.split(".")[1]) for key in block_keys}),
        norm=_norm_from(state, "model.1", "model.2"),
        dropout=block_convs[1] - block_convs[0] == plain_gap + 1,
        n_downsampling=n_downsampling,
        antialias=3 in filter_sizes,
        antialias_up=4 in filter_sizes,
        padding="reflect" if padded else "zero",
    )


def _unet_from(state: dict[str, torch.Tensor]) -> nn.Module:
    first = _need(state, "model.model.0.weight", ndim=4)
    depth = max(key.split(".").count("model") for key in state) - 1
    return UnetGenerator(
        in_channels=first.shape[1],
        out_channels=_need(state, "model.model.3.weight", ndim=4).shape[1],  # transposed: (in, out, k, k)
        num_downs=depth,
        ngf=first.shape[0],
        norm=_norm_from(state, "model.model.1.model.1", "model.model.1.model.2"),
    )


def _patchgan_from(state: dict[str, torch.Tensor]) -> nn.Module:
    if not state or not all(_TOP_INDEX.match(key) for key in state):
        raise _Mismatch("keys are not all of the form 'model.<i>.*'")
    convs = sorted(int(key.split(".")[1]) for key, value in state.items()
                   if key.endswith(".weight") and value.dim() == 4 and value.shape[-2:] == (4, 4))
    if len(convs) < 3 or convs[0] != 0:
        raise _Mismatch(f"found {len(convs)} 4x4 convs starting at model.{convs[0] if convs else '?'}, "
                        "expected at least 3 starting at model.0")
    if state[f"model.{convs[-1]}.weight"].shape[0] != 1:
        raise _Mismatch("last conv does not have 1 output channel")
    first = state["model.0.weight"]
    return PatchGAN(
        in_channels=first.shape[1],
        ndf=first.shape[0],
        n_layers=len(convs) - 2,
        norm=_norm_from(state, f"model.{convs[1]}", f"model.{convs[1] + 1}"),
        antialias=any(key.endswith(".filt") for key in state),
    )


_BUILDERS: tuple[tuple[str, Callable[[dict], nn.Module]], ...] = (
    ("ResNet generator", _resnet_from),
    ("U-Net generator", _unet_from),
    ("PatchGAN discriminator", _patchgan_from),
)


def _drop_legacy_instance_norm_stats(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop running stats that pre-0.4 PyTorch saved for InstanceNorm layers that no longer keep any."""
    expected = net.state_dict()
    kept = {}
    for key, value in state.items():
        owner, _, leaf = key.rpartition(".")
        legacy = leaf in LEGACY_INSTANCE_NORM_STATS and isinstance(_submodule(net, owner), nn.InstanceNorm2d)
        if legacy and key not in expected:
            continue
        kept[key] = value
    return kept


def _submodule(net: nn.Module, path: str) -> nn.Module | None:
    try:
        return net.get_submodule(path)
    except AttributeError:
        return None


def _check_layout(net: nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = net.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [key for key in expected if key in state and expected[key].shape != state[key].shape]
    if missing or unexpected or reshaped:
        raise _Mismatch(f"built {type(net).__name__} but keys differ (missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]}, wrong shape {reshaped[:3]})")
