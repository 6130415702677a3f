"""The benchmarks run on CPU in their small form and print their tables (timings are not asserted)."""
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                         timeout=300, cwd=BENCH)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()


def test_overhead_ends_with_the_ratio():
    lines = run("overhead.py", "--device", "cpu", "--quick", "--pairs", "2")
    assert lines[-1].startswith("ratio ") and float(lines[-1].split()[1]) > 0


def test_throughput_compares_fast_and_plain_paths():
    lines = run("throughput.py", "--device", "cpu", "--quick", "--recipes", "cyclegan", "--batches", "1",
                "--size", "32", "--warmup", "1", "--steps", "1")
    rows = [line.split() for line in lines if line.startswith("cyclegan")]
    assert [row[2] for row in rows] == ["fp32", "fast"]


def test_ddp_scaling_table():
    lines = run("ddp.py", "--device", "cpu", "--quick", "--max", "2", "--warmup", "1", "--steps", "1")
    assert [line.split()[0] for line in lines[-2:]] == ["1", "2"]


def _claims_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("claims", BENCH / "claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_claims_knows_the_thirteen_claims_and_judges_means_and_seeds():
    claims = _claims_module()
    assert list(claims.CLAIMS) == ["cyclegan", "cut", "fastcut", "pix2pix", "cyclegan+patchnce", "bicyclegan", "msgan",
                                   "divco", "drit", "dritpp", "munit", "munit+mode_seeking", "drit+divco"]
    beats = claims.Check("per_input_coverage", "beats", 0.15, claims.Run("msgan"))
    assert beats.evaluate([0.9, 0.9, 0.3], [0.5, 0.5, 0.5])  # mean 0.7 ≥ 0.5 + 0.15, and 2 of 3 seeds
    assert not beats.evaluate([1.0, 0.6, 0.6], [0.5, 0.5, 0.5])  # the mean holds, 1 seed of 3 does not suffice
    assert not beats.evaluate([0.7, 0.7, 0.2], [0.5, 0.5, 0.5])  # 2 of 3 seeds, but the mean misses
    not_worse = claims.Check("miou", "not_worse", 0.02, claims.Run("cyclegan"))
    assert not_worse.evaluate([0.49, 0.6], [0.5, 0.5]) and not not_worse.evaluate([0.47, 0.7], [0.5, 0.5])
    assert claims.Check("miou", "at_least", 0.55).evaluate([0.5, 0.6], None)
    assert claims.Check("miou", "within", 0.02, claims.Run("munit")).evaluate([0.41], [0.43])
    assert not claims.Check("wall_s", "faster", control=claims.Run("cyclegan")).evaluate([30.0], [29.0])


def test_claims_quick_run_writes_its_table_and_json(tmp_path):
    import json

    out = tmp_path / "claims"
    lines = run("claims.py", "--quick", "--claims", "cut,msgan", "--out", str(out), "--jobs", "2")
    assert lines[-1] in ("claims held 0 of 2", "claims held 1 of 2", "claims held 2 of 2")
    assert any(line.startswith("| `cut` | miou ≥ control |") for line in lines)
    result = json.loads((out / "claims.json").read_text())
    assert {r["run"] for r in result["runs"]} == {"cut", "cyclegan", "msgan", "msgan[mode_seeking.weight=0]"}
    assert all(r["config"]["train"]["steps"] == 2 and "miou" in r["scores"] for r in result["runs"])
    assert result["torch_version"] and result["i2i_version"] and result["claims"] == ["cut", "msgan"]
    assert "valid_rate" in next(r for r in result["runs"] if r["run"] == "msgan")["scores"]


def test_codes_reports_how_a_multimodal_run_uses_its_code(tmp_path):
    from i2i_core.cli import main

    for recipe, steps in (("drit", "3"), ("pix2pix", "1")):
        assert main(["train", recipe, "--data", "demo:shapes-styles" if recipe == "drit" else "demo", "--out",
                     str(tmp_path / recipe), "--steps", steps, "--batch-size", "2", "--image-size", "32"]) == 0
    lines = run("codes.py", str(tmp_path / "drit"), "--images", "24")
    assert lines[0].startswith("style codes") and any("singular values of the style means" in line for line in lines)
    start = lines.index(next(line for line in lines if line.startswith("transfer")))
    assert [line.split()[0] for line in lines[start + 2:start + 6]] == ["navy", "maroon", "forest", "grey"]
    assert lines[-1].startswith("share") and any(line.startswith("round trip") for line in lines)
    for run_dir, refusal in ((tmp_path / "pix2pix", "trained on demo AtoB"), (tmp_path / "none", "does not exist")):
        out = subprocess.run([sys.executable, str(BENCH / "codes.py"), str(run_dir)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
        assert out.returncode != 0 and refusal in out.stderr and "Traceback" not in out.stderr


def test_codes_tables_read_styles_where_the_translator_puts_them():
    """A stand-in translator whose code is the style image's background colour and which paints A's
    background with its code: encoded transfer is the identity, and codes on a line are rank 1."""
    import importlib.util

    import torch

    from i2i_core.demo import PALETTE_A, STYLES
    from i2i_core.oracle import demo_test_batch
    from i2i_core.recipe import Translator

    spec = importlib.util.spec_from_file_location("codes", BENCH / "codes.py")
    codes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codes)
    styles = torch.from_numpy(STYLES) * 2 - 1

    def background_style(images):  # the style colour most pixels are nearest to
        nearest = torch.cdist(images.permute(0, 2, 3, 1).reshape(len(images), -1, 3), styles[None]).argmin(2)
        return styles[nearest.mode(1).values]

    def paint(nets, x, code):
        a_background = (x - torch.tensor(PALETTE_A[0] * 2 - 1)[:, None, None]).abs().amax(1, keepdim=True) < 0.01
        return torch.where(a_background, code[:, :, None, None], x)

    data = demo_test_batch("shapes-styles", count=40)
    prior = styles[torch.arange(40) % 2 * 3]  # navy and grey in turn
    lines = codes.report(Translator(nets=(), run=paint, style_code=lambda nets, y: background_style(y),
                                    sample_code=lambda *a: None), {}, data, prior)
    start = lines.index("transfer (rows: the style image's style; shares of the row)")
    table = [[float(v) for v in line.split()[1:]] for line in lines[start + 2:start + 6]]
    assert table == [[1.0 if j == i else 0.0 for j in range(5)] for i in range(4)]
    assert lines[-1].split()[1:] == ["0.50", "0.00", "0.00", "0.50", "0.00"]
    assert any("round trip |code(G(x, z)) − z| 0.000" in line for line in lines)
