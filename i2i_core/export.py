"""One direction of a trained run as a file that runs without i2i: TorchScript (torch alone) or ONNX
(onnxruntime alone).

The file holds the translator's networks and nothing else: an image ``batch × C × height × width``
in [-1, 1], and for multimodal recipes a code ``batch × Z`` drawn from N(0, I), give the
translation ``batch × C' × height × width`` in [-1, 1]. Batch, height and width are dynamic;
height and width must be multiples of ``size_multiple``. The same facts travel inside the file as
JSON (:data:`METADATA`): TorchScript's extra file ``i2i.json``, the ONNX metadata key ``i2i``.

ONNX goes through torch's dynamo exporter (``torch.onnx.export(dynamo=True)``, which needs
onnxscript): the TorchScript-based one (``dynamo=False``) cannot export SinCUT's blur, a
depthwise convolution whose kernel is expanded to the input's channel count at run time
("convolution for kernel of unknown shape"), nor DRIT's layer norm over ``x.shape[1:]``, whose
normalised shape then depends on the input size.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from . import __version__
from .errors import ConfigError, I2IError
from .translate import load_run, run_translator, size_multiple

FORMATS = ("torchscript", "onnx")
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
METADATA = "i2i.json"  # TorchScript extra file; the ONNX metadata key is "i2i"
# Largest |exported − eager| on the check input. A broken trace is off by tenths; ONNX Runtime's own
# kernels differ from torch's by up to ~5e-5 on a random paper-size generator at 256².
TOLERANCE = 1e-3


class ExportError(I2IError):
    """The exported file does not reproduce the eager model, so it is not written."""


class Standalone(nn.Module):
    """The networks a translator runs, behind a plain ``forward`` that both tracers can record."""

    def __init__(self, run, nets: dict):
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.translate = run

    def forward(self, image: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        return self.translate(self.nets, image, code)


class _Recorder(dict):
    """Notes which networks ``run`` touches: encoders kept only for ``--style`` stay out of the file."""

    def __init__(self, nets: dict):
        super().__init__(nets)
        self.used = set()

    def __getitem__(self, name):
        self.used.add(name)
        return super().__getitem__(name)


def check_out(out: Path, force: bool = False, fmt: str = "torchscript") -> None:
    """Refuse an --out that cannot be written, or that exists without --force, before any work."""
    if out.is_dir():
        example = out / ("generator.onnx" if fmt == "onnx" else "generator.pt")
        raise ConfigError(f"--out {out} is a folder; give the file to write, such as {example}")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {out.parent} does not exist")
    if out.exists() and not force:
        raise ConfigError(f"--out {out} exists; pass --force to replace it")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: the folder {out.parent} is not writable")


def require_packages(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose {' or '.join(FORMATS)}")
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None] if fmt == "onnx" else []
    if missing:
        raise ConfigError(f"--format onnx needs the export extra (missing {', '.join(missing)}): "
                          f"pip install 'i2i[export]'")


def export_run(checkpoint: Path, fmt: str, out: Path, direction: str = "AtoB", force: bool = False) -> dict:
    """Export ``direction`` of a run folder or checkpoint to ``out``; returns the file's metadata."""
    check_out(out, force, fmt)
    require_packages(fmt)
    recipe, state, config = load_run(checkpoint)
    translator, nets = run_translator(recipe, state, direction)
    build = config.build
    # A run trained with --direction BtoA swapped its data: the recipe's A is the data's B.
    data_direction = direction if config.direction == "AtoB" else {"AtoB": "BtoA", "BtoA": "AtoB"}[direction]
    info = {"recipe": config.recipe, "direction": direction, "data_direction": data_direction,
            "trained_image_size": build.image_size}
    channels = build.in_channels if direction == "AtoB" else build.out_channels
    return export_translator(translator, nets, fmt, out, channels=channels, info=info)


def export_translator(translator, nets: dict, fmt: str, out: Path, *, channels: int = 3, info: dict | None = None) -> dict:
    """Write ``translator`` over ``nets`` to ``out`` in ``fmt``, checked against the eager model."""
    require_packages(fmt)
    module, example, probe, out_channels = standalone(translator, nets, channels)
    meta = describe(module, example, out_channels, info or {})
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # a failed check leaves the old file in place
    try:
        (_save_torchscript if fmt == "torchscript" else _save_onnx)(module, example, tmp, meta)
        with torch.no_grad():
            expected = module(*probe)
        got = load(tmp, fmt)(*probe)
        difference = (got - expected).abs().max().item() if got.shape == expected.shape else float("inf")
        if not difference <= TOLERANCE:
            raise ExportError(f"the exported {fmt} file differs from the eager model by {difference:.3g} on a "
                              f"{'×'.join(map(str, probe[0].shape))} input; {out} was not written")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {**meta, "check": {"input": list(probe[0].shape), "max_abs_difference": difference}}


def standalone(translator, nets: dict, channels: int = 3):
    """(module, example inputs to trace, check inputs of another size and batch, output channels)."""
    # Copies, so that the caller's networks keep their mode; frozen, so that outputs need no no_grad().
    nets = {name: copy.deepcopy(net).eval().requires_grad_(False) for name, net in nets.items()}
    generator = torch.Generator().manual_seed(0)
    recorder = _Recorder(nets)
    multiple = size_multiple(nets)

    def inputs(batch, height, width):
        image = torch.rand(batch, channels, height, width, generator=generator) * 2 - 1
        if translator.sample_code is None:
            return (image,)
        return image, translator.sample_code(batch, generator, "cpu")

    # Batch 2: torch.export would fix a dimension of size 1.
    example, probe = inputs(2, 2 * multiple, 2 * multiple), inputs(1, 3 * multiple, 2 * multiple)
    image, code = example if len(example) == 2 else (example[0], None)
    with torch.no_grad():
        output = translator.run(recorder, image, code)
    used = {name: net for name, net in nets.items() if name in recorder.used}
    return Standalone(translator.run, used).eval(), example, probe, output.shape[1]


def describe(module: Standalone, example: tuple, out_channels: int, info: dict) -> dict:
    """What a caller needs to prepare the inputs and read the output."""
    multiple = size_multiple(dict(module.nets))
    inputs = {"image": {"shape": ["batch", example[0].shape[1], "height", "width"], "range": [-1, 1],
                        "dtype": "float32"}}
    if len(example) > 1:
        inputs["code"] = {"shape": ["batch", *example[1].shape[1:]], "distribution": "N(0, I)", "dtype": "float32"}
    return {"format": "i2i-export-1", "i2i_version": __version__, "torch_version": torch.__version__, **info,
            "inputs": inputs,
            "output": {"name": "translation", "shape": ["batch", out_channels, "height", "width"],
                       "range": [-1, 1]},
            "size_multiple": multiple,
            "preprocess": f"image = 2 * pixels - 1 for pixels in [0, 1]; pad height and width up to multiples "
                          f"of {multiple} (i2i translate reflects) and crop the translation back; "
                          f"pixels = (translation + 1) / 2"}


def summary(meta: dict, out: Path, fmt: str) -> str:
    def shape(entry):
        return "×".join(map(str, entry["shape"]))

    image, code, check = meta["inputs"]["image"], meta["inputs"].get("code"), meta["check"]
    where = f"extra file {METADATA}" if fmt == "torchscript" else "metadata property i2i"
    return (f"wrote {out} ({fmt}, {meta['recipe']} {meta['direction']}; metadata JSON in its {where})\n"
            f"image {shape(image)} in [-1, 1], height and width multiples of {meta['size_multiple']}"
            + (f"; code {shape(code)} ~ N(0, I)" if code else "")
            + f" -> translation {shape(meta['output'])} in [-1, 1]; max |exported - eager| "
              f"{check['max_abs_difference']:.1e} on a {'×'.join(map(str, check['input']))} input")


def load(path: Path, fmt: str):
    """The exported file as a function of torch tensors, as a user without i2i would run it."""
    if fmt == "torchscript":
        with _torchscript_deprecation_silenced():
            return torch.jit.load(str(path))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    return lambda *tensors: torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, tensors)})[0])


def _save_torchscript(module: Standalone, example: tuple, path: Path, meta: dict) -> None:
    with warnings.catch_warnings():
        # torch's own input checks (instance norm's spatial size) warn that they are not traced; the
        # check on an input of another size is what shows that the trace does not depend on them.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
    with _torchscript_deprecation_silenced():
        torch.jit.save(traced, str(path), _extra_files={METADATA: json.dumps(meta)})


@contextlib.contextmanager
def _torchscript_deprecation_silenced():
    """torch 2.13 marks torch.jit.save/load deprecated (in favour of torch.export); TorchScript is
    still the format that runs with torch alone on every supported version, which is why it is
    offered, and the README says so, so the warning would only repeat that on every export."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.(save|load)` is deprecated", category=DeprecationWarning)
        yield


def _save_onnx(module: Standalone, example: tuple, path: Path, meta: dict) -> None:
    names = ["image", "code"][:len(example)]
    dims = {"image": {0: "batch", 2: "height", 3: "width"}, "code": {0: "batch"}}
    with _quiet():
        program = torch.onnx.export(module, example, input_names=names, output_names=["translation"], dynamo=True,
                                    dynamic_shapes={name: dims[name] for name in names}, verbose=False)
    program.model.metadata_props["i2i"] = json.dumps(meta)
    program.save(str(path))


@contextlib.contextmanager
def _quiet():
    """The exporter's progress lines and its notes on optional packages (torchvision) are noise here."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                yield
    finally:
        logger.setLevel(level)
