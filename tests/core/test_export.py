"""i2i export: every generator kind, exported to TorchScript and ONNX, runs in a Python that cannot
import i2i (ONNX: nor torch) and matches the eager translator at two sizes; the command's errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_core import checkpoint as ckpt
from i2i_core.export import export_translator
from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.runconfig import RunConfig
from i2i_core.translate import size_multiple

from helpers import cli, expect_cli_error, tiny_build

# One recipe per generator kind: ResNet, U-Net, StyleGAN2, then the three multimodal ones.
KINDS = {"resnet": ("cyclegan", "AtoB"), "unet": ("pix2pix", "AtoB"), "stylegan2": ("sincut", "AtoB"),
         "munit": ("munit", "BtoA"), "drit": ("drit", "AtoB"), "bicyclegan": ("bicyclegan", "AtoB")}
TOLERANCE = 1e-4

# Run in a fresh `python -I` from the export folder. Importing a blocked name fails, as if the
# package were not installed (the dev venv holds i2i as an editable install, which -I still sees).
CHILD = """
import json, sys
fmt, kinds = sys.argv[1], sys.argv[2].split(",")
for name in ["i2i_core", "i2i_plugins"] + (["torch"] if fmt == "onnx" else []):
    sys.modules[name] = None
import numpy as np
metadata = {}
for kind in kinds:
    if fmt == "onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(kind + ".onnx", providers=["CPUExecutionProvider"])
        metadata[kind] = json.loads(session.get_modelmeta().custom_metadata_map["i2i"])
        names = [node.name for node in session.get_inputs()]
        run = lambda feeds: session.run(None, feeds)[0]
    else:
        import torch
        extra = {"i2i.json": ""}
        model = torch.jit.load(kind + ".pt", _extra_files=extra)
        metadata[kind] = json.loads(extra["i2i.json"])
        names = list(metadata[kind]["inputs"])
        run = lambda feeds: model(*[torch.from_numpy(feeds[n]) for n in names]).numpy()
    for k in range(2):
        np.save(f"{kind}_{k}_{fmt}.npy", run({n: np.load(f"{kind}_{k}_{n}.npy") for n in names}))
json.dump(metadata, open(f"metadata_{fmt}.json", "w"))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every kind exported in both formats, with two inputs each and the eager outputs for them."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed (pip install 'i2i[export]')")
    folder = tmp_path_factory.mktemp("export")
    eager, checks = {}, {}
    torch.manual_seed(0)
    for kind, (recipe_name, direction) in KINDS.items():
        recipe = build_recipe(recipe_name, tiny_build())
        translator = recipe.translator(direction)
        nets = {name: recipe.nets[name].build(name).eval() for name in translator.nets}
        for fmt, suffix in (("torchscript", "pt"), ("onnx", "onnx")):
            meta = export_translator(translator, nets, fmt, folder / f"{kind}.{suffix}",
                                     info={"recipe": recipe_name, "direction": direction})
            checks[kind, fmt] = meta["check"]["max_abs_difference"]
        m = size_multiple(nets)
        for k, (batch, height, width) in enumerate([(1, 3 * m, 4 * m), (2, 5 * m, 2 * m)]):
            image = torch.rand(batch, 3, height, width) * 2 - 1
            code = translator.sample_code(batch, None, "cpu") if translator.sample_code else None
            np.save(folder / f"{kind}_{k}_image.npy", image.numpy())
            if code is not None:
                np.save(folder / f"{kind}_{k}_code.npy", code.numpy())
            with torch.no_grad():
                eager[kind, k] = translator.run(nets, image, code).numpy()
    return folder, eager, checks


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_generators_run_without_i2i_and_match_eager(exported, fmt):
    folder, eager, checks = exported
    subprocess.run([sys.executable, "-I", "-c", CHILD, fmt, ",".join(KINDS)], cwd=folder, check=True)
    differences = {(kind, k): float(np.abs(np.load(folder / f"{kind}_{k}_{fmt}.npy") - eager[kind, k]).max())
                   for kind in KINDS for k in range(2)}
    print(fmt, {key: f"{d:.1e}" for key, d in differences.items()}, "export checks", checks)
    assert max(differences.values()) <= TOLERANCE, differences
    metadata = json.loads((folder / f"metadata_{fmt}.json").read_text())
    for kind, (recipe_name, direction) in KINDS.items():
        meta = metadata[kind]
        assert (meta["recipe"], meta["direction"], meta["inputs"]["image"]["range"]) == (recipe_name, direction, [-1, 1])
        assert meta["inputs"]["image"]["shape"] == meta["output"]["shape"] == ["batch", 3, "height", "width"]
        multimodal = kind in ("munit", "drit", "bicyclegan")
        assert ("code" in meta["inputs"]) == multimodal and meta["size_multiple"] >= 2
        if multimodal:
            translator = build_recipe(recipe_name, BuildOptions(image_size=32, preset="tiny")).translator(direction)
            assert meta["inputs"]["code"]["shape"] == ["batch", translator.sample_code(1, None, "cpu").shape[1]]


def write_run(folder: Path, recipe_name: str) -> Path:
    """A run folder whose checkpoint holds what i2i export reads (configuration and weights), untrained."""
    build = tiny_build()
    recipe = build_recipe(recipe_name, build)
    config = RunConfig(recipe=recipe_name, build=build, settings=recipe.resolved(), train={"direction": "AtoB"})
    nets = {name: spec.build(name).state_dict() for name, spec in recipe.nets.items()}
    ckpt.save_atomic({"format": ckpt.FORMAT, "config": json.dumps(config.to_dict()), "nets": nets},
                     folder / "checkpoints" / "latest.pt")
    return folder


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")  # as a user loads it
def test_export_command_writes_once_and_refuses_bad_output_in_one_line(capsys, tmp_path, monkeypatch):
    run = write_run(tmp_path / "run", "pix2pix")
    target = tmp_path / "g.pt"
    code, out, err = cli(capsys, "export", "--checkpoint", run, "--format", "torchscript", "--out", target)
    assert code == 0 and target.is_file() and "multiples of 32" in out, err
    extra = {"i2i.json": ""}
    torch.jit.load(str(target), _extra_files=extra)
    assert json.loads(extra["i2i.json"])["recipe"] == "pix2pix"
    expect_cli_error(capsys, "export", "--checkpoint", run, "--format", "torchscript", "--out", target,
                     match="exists; pass --force")
    assert cli(capsys, "export", "--checkpoint", run, "--format", "torchscript", "--out", target, "--force")[0] == 0
    expect_cli_error(capsys, "export", "--checkpoint", run, "--format", "torchscript", "--out", tmp_path,
                     match="is a folder")
    expect_cli_error(capsys, "export", "--checkpoint", run, "--format", "torchscript",
                     "--out", tmp_path / "missing" / "g.pt", match="does not exist")
    expect_cli_error(capsys, "export", "--checkpoint", run, "--direction", "BtoA", "--format", "torchscript",
                     "--out", tmp_path / "h.pt", match="translates only AtoB, not BtoA")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if the export extra were not installed
    expect_cli_error(capsys, "export", "--checkpoint", run, "--format", "onnx", "--out", tmp_path / "g.onnx",
                     match="needs the export extra (missing onnxscript): pip install 'i2i[export]'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pt", "run"]
