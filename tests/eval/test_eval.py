"""`i2i eval` end to end: the shared run's report, two folders, the missing-weights message, a
third-party metric, `--eval-every` and the training plot."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli as run, expect_cli_error as expect_error, read_metrics
from i2i_core import oracle
from i2i_core import plugins as registry
from i2i_core.cli import main
from i2i_core.data import save_image
from i2i_core.hooks import hookimpl
from i2i_core.metrics.registry import Metric
from i2i_core.plot import plot_run
from test_oracle import MULTIMODAL, MULTIMODAL_KEYS, styles_trainer

PROVENANCE = ("metric", "value", "i2i_version", "torch_version", "device", "dtype", "features", "features_sha256",
              "resize", "n_real", "n_fake", "subsets", "subset_size", "seed")
ORACLE_KEYS = ("miou", "oracle_mae", "oracle_psnr", "purity")
DISTRIBUTION_KEYS = ("fd_pixel16", "kid_pixel16", "ndb_pixel16", "jsd_pixel16", "swd", "precision_pixel16",
                     "recall_pixel16", "density_pixel16", "coverage_pixel16")
PAIRED_KEYS = ("l1", "psnr", "ssim", "ms_ssim")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """`i2i eval --real --fake` without --report writes into the current folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def checkpoint_report(cyclegan_demo_run, tmp_path_factory):
    """`i2i eval --checkpoint` on the shared run: (exit code, stdout, the JSON report, its path)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["eval", "--checkpoint", str(cyclegan_demo_run)])
    text = out.getvalue()
    path = text.strip().splitlines()[-1].removeprefix("report: ")
    return code, text, json.loads(open(path).read()), path


def test_eval_checkpoint_writes_the_report_and_prints_the_table(checkpoint_report, cyclegan_demo_run):
    code, text, report, path = checkpoint_report
    assert code == 0
    assert path.startswith(str(cyclegan_demo_run / "eval")) and path.endswith("Z.json")
    assert set(ORACLE_KEYS + DISTRIBUTION_KEYS + PAIRED_KEYS) <= set(report["scores"])
    for name in ORACLE_KEYS + ("fd_pixel16", "kid_pixel16", "ssim"):
        assert any(line.split()[:1] == [name] for line in text.splitlines()), name
    assert "per-class IoU: background" in text and "confusion (rows true" in text
    source = report["source"]
    assert source["recipe"] == "cyclegan" and source["step"] == 400 and source["data"] == "demo"
    assert source["direction"] == "AtoB" and source["inputs"] == 200
    for name, record in report["results"].items():
        assert set(PROVENANCE) <= set(record), name
        assert record["value"] == report["scores"][name]
    miou = report["results"]["miou"]
    assert set(miou["per_class_iou"]) == {"background", "disc", "square", "triangle"}
    assert np.array(miou["confusion"]).sum() == 200 * 32 * 32
    kid = report["results"]["kid_pixel16"]
    # subsets of all 200 images would all be the same set: KID is computed once, with no spread
    assert kid["features"] == "pixel16" and kid["subsets"] == 1 and kid["std"] is None and kid["subset_size"] == 200
    assert kid["n_real"] == kid["n_fake"] == 200 and kid["seed"] == 0
    assert report["results"]["ndb_pixel16"]["bins"] == 4  # 200 reference images: 50 per bin
    # the paired L1 of the saved (8-bit) outputs is the oracle MAE up to quantisation
    assert report["scores"]["l1"] == pytest.approx(report["scores"]["oracle_mae"], abs=2 / 255)


def test_eval_checkpoint_equals_translate_then_eval_folders(checkpoint_report, cyclegan_demo_run, tmp_path, capsys):
    """`i2i translate` then `--real/--fake` on the PNGs reproduces `--checkpoint`'s scores, up to the
    8-bit quantisation of the inputs (the checkpoint path translates the exact demo renders)."""
    _, _, report, _ = checkpoint_report
    data = oracle.demo_test_batch("shapes", 32, 200)
    for i in range(200):
        save_image(data["source"][i], tmp_path / "inputs" / f"{i:03d}.png")
        save_image(data["target"][i], tmp_path / "real" / f"{i:03d}.png")
    code, _, err = run(capsys, "translate", "--checkpoint", cyclegan_demo_run, "--input", tmp_path / "inputs",
                       "--out", tmp_path / "fake")
    assert code == 0, err
    code, out, err = run(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake",
                         "--report", tmp_path / "folders.json")
    assert code == 0, err
    folders = json.loads((tmp_path / "folders.json").read_text())
    assert folders["source"]["paired_by_file_name"]
    for name, tolerance in (("fd_pixel16", 0.05), ("swd", 0.05), ("l1", 0.02), ("ssim", 0.01), ("psnr", 0.01)):
        assert folders["scores"][name] == pytest.approx(report["scores"][name], rel=tolerance), name
    assert "fd_pixel16" in out


def write_set(folder, images, names):
    for image, name in zip(images, names):
        save_image(image * 2 - 1, folder / f"{name}.png")


def test_eval_two_folders_with_suites_metrics_and_feature_spaces(tmp_path, capsys):
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(12, 3, 24, 24, generator=generator)
    fake = (real + 0.1 * torch.randn(real.shape, generator=generator)).clamp(0, 1)
    write_set(tmp_path / "real", real, [f"a{i}" for i in range(12)])
    write_set(tmp_path / "fake", fake, [f"b{i}" for i in range(12)])
    code, out, err = run(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake",
                         "--report", tmp_path / "r.json")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert not report["source"]["paired_by_file_name"] and "l1" not in report["scores"]  # names differ
    assert "fd_pixel16" in report["scores"] and "skipped ndb" in out  # 12 images are too few for NDB
    assert any("at least 50 reference" in reason for reason in report["skipped"].values())
    code, out, err = run(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake",
                         "--metrics", "fd,kid,ssim", "--features", "rand@3", "--report", tmp_path / "m.json")
    assert code == 2 and "not paired" in err  # ssim needs pairs
    code, out, err = run(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake",
                         "--metrics", "fd,kid", "--features", "rand@3", "--kid-subsets", "5", "--kid-subset-size", "6",
                         "--report", tmp_path / "m.json")
    assert code == 0, err
    results = json.loads((tmp_path / "m.json").read_text())["results"]
    assert set(results) == {"fd_rand@3", "kid_rand@3"}
    assert len(results["fd_rand@3"]["features_sha256"]) == 64 and results["kid_rand@3"]["subsets"] == 5
    expect_error(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "--metrics", "fidd",
                 match="unknown metric 'fidd'")
    expect_error(capsys, "eval", "--real", tmp_path / "real", match="--real needs --fake")


def test_missing_inception_weights_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("I2I_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    images = torch.rand(4, 3, 16, 16)
    write_set(tmp_path / "real", images, range(4))
    write_set(tmp_path / "fake", images, range(4))
    expect_error(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "--metrics", "fid",
                 match=["pt_inception-2015-12-05-6726825d.pth", "95,628,359",
                        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", "--inception (not given)",
                        "$I2I_WEIGHTS_DIR (not set)", str(tmp_path / "torch" / "hub" / "checkpoints")])
    monkeypatch.setenv("I2I_WEIGHTS_DIR", str(tmp_path / "weights"))
    expect_error(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "--suite", "paired",
                 "--metrics", "lpips", match=["alexnet-owt-7be5be79.pth", "7be5be79", str(tmp_path / "weights")])


def test_a_third_party_metric_joins_through_the_hook(tmp_path, capsys):
    class MeanGapPlugin:
        @hookimpl
        def i2i_metrics(self):
            def mean_gap(real, fake):
                return float((real.mean() - fake.mean()).abs())

            def channel_means(sets, ctx):
                return {"red_mean": {"value": float(sets.fake[:, 0].double().mean() / 255), "dtype": "float64"}}
            return {"mean_gap": mean_gap, "red_mean": Metric("red_mean", ("distribution",), channel_means)}

    images = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    write_set(tmp_path / "real", images, range(6))
    write_set(tmp_path / "fake", images.flip(0) * 0.5, range(6))
    plugin = MeanGapPlugin()
    registry.plugin_manager().register(plugin)
    registry._metrics.cache_clear()
    try:
        code, out, err = run(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake",
                             "--metrics", "mean_gap,fd", "--report", tmp_path / "r.json")
        assert code == 0, err
        scores = json.loads((tmp_path / "r.json").read_text())["scores"]
        assert scores["mean_gap"] == pytest.approx(float(images.mean()) * 0.5, abs=0.01) and "fd_pixel16" in scores
        code, out, err = run(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake")
        assert code == 0 and "red_mean" in out and "mean_gap" not in out  # a Metric joins its suite by default
    finally:
        registry.plugin_manager().unregister(plugin)
        registry._metrics.cache_clear()


@pytest.mark.skipif(not MULTIMODAL, reason="no multimodal recipe is registered yet")
def test_eval_checkpoint_of_a_multimodal_run_scores_samples(tmp_path, capsys):
    styles_trainer(MULTIMODAL[0], tmp_path / "run", steps=2).fit()
    code, out, err = run(capsys, "eval", "--checkpoint", tmp_path / "run", "--samples", "3")
    assert code == 0, err
    report = json.loads(open(out.strip().splitlines()[-1].removeprefix("report: ")).read())
    assert set(MULTIMODAL_KEYS) <= set(report["scores"]) and report["source"]["samples_per_input"] == 3
    assert {"diversity_l1", "diversity_ms_ssim", "fd_pixel16"} <= set(report["scores"])
    assert report["results"]["coverage"]["n_fake"] == 50 * 3 and "style_counts" in report["results"]["coverage"]


def test_checkpoint_eval_refuses_bad_options(capsys, cyclegan_demo_run, tmp_path):
    expect_error(capsys, "eval", "--checkpoint", cyclegan_demo_run, "--samples", "4", match="multimodal run")
    expect_error(capsys, "eval", "--checkpoint", tmp_path / "nothing", match="does not exist")
    expect_error(capsys, "eval", "--checkpoint", cyclegan_demo_run, "--fake", tmp_path, match="go with --real")


# ------------------------------------------------------------------------------------ during training
def test_eval_every_logs_the_oracle_and_the_run_ends_with_a_plot_and_its_miou(tmp_path, capsys):
    code, out, err = run(capsys, "train", "cyclegan", "--data", "demo", "--out", tmp_path / "run", "--steps", "4",
                         "--eval-every", "2", "--batch-size", "2", "--log-every", "50")
    assert code == 0, err
    rows = read_metrics(tmp_path / "run")
    assert [row["step"] for row in rows] == [1, 2, 4]
    assert [row["step"] for row in rows if "miou" in row] == [2, 4]
    assert all(0 <= row["miou"] <= 1 and row["oracle_mae"] > 0 for row in rows if "miou" in row)
    last = out.strip().splitlines()[-1]
    assert last.startswith("oracle mIoU ") and "background" in last and "losses.png" in last
    assert float(last.split()[2]) == pytest.approx(rows[-1]["miou"], abs=5e-4)
    plot = Image.open(tmp_path / "run" / "plots" / "losses.png")
    assert plot.size == (960, 760)  # a loss panel and a score panel
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["eval_every"] == 2


def test_evaluating_during_training_does_not_change_the_training(tmp_path):
    from i2i_core.recipe import BuildOptions, build_recipe
    from i2i_core.training import Trainer, TrainOptions

    build = BuildOptions(image_size=32, preset="tiny")
    weights = []
    for eval_every in (None, 1):
        recipe = build_recipe("pix2pix", build, sets={"data.batch_size": 2})  # dropout and batch norm
        trainer = Trainer(recipe, TrainOptions(data="demo", out=tmp_path / str(eval_every), steps=3, log_every=50,
                                               save_every=50, sample_every=50, eval_every=eval_every), build)
        trainer.fit()
        weights.append(trainer.nets["G"].state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_a_run_trained_btoa_is_scored_in_its_direction(tmp_path, capsys):
    code, out, err = run(capsys, "train", "pix2pix", "--data", "demo", "--out", tmp_path / "run", "--steps", "2",
                         "--batch-size", "2", "--direction", "BtoA", "--eval-every", "2")
    assert code == 0, err
    code, out, err = run(capsys, "eval", "--checkpoint", tmp_path / "run", "--suite", "oracle")
    assert code == 0, err
    report = json.loads(open(out.strip().splitlines()[-1].removeprefix("report: ")).read())
    assert report["source"]["direction"] == "BtoA" and set(report["scores"]) == set(ORACLE_KEYS)
    assert report["scores"]["miou"] == pytest.approx(read_metrics(tmp_path / "run")[-1]["miou"])


def test_eval_checkpoint_of_runs_on_data_folders(tmp_path, capsys):
    generator = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for k in range(3):
            for side in "AB":
                image = torch.rand(3, 40, 36, generator=generator) * 2 - 1
                save_image(image, tmp_path / "unaligned" / f"{split}{side}" / f"{k}.png")
            save_image(torch.rand(3, 32, 64, generator=generator) * 2 - 1, tmp_path / "aligned" / split / f"{k}.png")
    tiny = ("--steps", "2", "--image-size", "32", "--preset", "tiny", "--batch-size", "2")
    assert run(capsys, "train", "cyclegan", "--data", tmp_path / "unaligned", "--out", tmp_path / "cg", *tiny)[0] == 0
    code, out, err = run(capsys, "eval", "--checkpoint", tmp_path / "cg")
    assert code == 0, err
    report = json.loads(open(out.strip().splitlines()[-1].removeprefix("report: ")).read())
    assert report["results"]["fd_pixel16"]["n_real"] == 3
    assert "miou" not in report["scores"] and "l1" not in report["scores"]  # no oracle, no pairs
    assert run(capsys, "train", "pix2pix", "--data", tmp_path / "aligned", "--out", tmp_path / "p2p", "--direction",
               "BtoA", *tiny)[0] == 0
    code, out, err = run(capsys, "eval", "--checkpoint", tmp_path / "p2p", "--suite", "paired")
    assert code == 0, err
    report = json.loads(open(out.strip().splitlines()[-1].removeprefix("report: ")).read())
    assert set(report["scores"]) == set(PAIRED_KEYS) and report["source"]["direction"] == "BtoA"
    expect_error(capsys, "eval", "--checkpoint", tmp_path / "p2p", "--suite", "oracle", match="oracle suite needs demo")


def test_eval_every_needs_demo_data(tmp_path, capsys):
    for side in "AB":
        for k in range(2):
            save_image(torch.rand(3, 40, 40) * 2 - 1, tmp_path / "data" / f"train{side}" / f"{k}.png")
    expect_error(capsys, "train", "cyclegan", "--data", tmp_path / "data", "--out", tmp_path / "run", "--steps", "2",
                 "--image-size", "32", "--preset", "tiny", "--eval-every", "1", match="--eval-every needs demo data")


def test_plot_draws_one_panel_per_kind_of_curve(tmp_path):
    assert plot_run(tmp_path) is None  # nothing logged yet
    rows = [{"step": s, "world_size": 1, "cycle": 1 / s, "adversarial": 0.5 + 0.01 * math.sin(s)} for s in (1, 50, 100)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    image = Image.open(plot_run(tmp_path))
    assert image.size == (960, 380)
    pixels = np.asarray(image)
    assert (pixels != 255).any(axis=2).mean() > 0.01  # axes, curves, labels were drawn
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 150, "world_size": 1, "cycle": 0.1, "miou": 0.4, "oracle_mae": 0.1}) + "\n")
    assert Image.open(plot_run(tmp_path)).size == (960, 760)


def test_folders_of_mixed_sizes_are_scored_and_unpaired_when_sizes_differ(tmp_path, capsys, monkeypatch):
    generator = torch.Generator().manual_seed(2)
    write_set(tmp_path / "real", torch.rand(6, 3, 24, 24, generator=generator), range(6))
    write_set(tmp_path / "real", torch.rand(2, 3, 20, 30, generator=generator), (6, 7))  # photo sets mix sizes
    write_set(tmp_path / "fake", torch.rand(8, 3, 16, 16, generator=generator), range(8))
    code, out, err = run(capsys, "eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake")
    assert code == 0, err
    written = list(tmp_path.glob("eval-*.json"))  # without --report the JSON lands in the current folder
    assert len(written) == 1 and f"report: {written[0].name}" in out
    assert "whole sets" in next(line for line in out.splitlines() if line.startswith("kid_pixel16"))
    report = json.loads(written[0].read_text())
    assert report["source"]["real_resized"] == "2 of 8 images resized to 24x24 (bilinear, antialiased)"
    assert report["source"]["fake_resized"] is None and not report["source"]["paired_by_file_name"]
    assert "differ in size" in report["skipped"]["paired"] and "fd_pixel16" in report["scores"]
    assert "l1" not in report["scores"]


def test_inception_files_under_their_other_name_count_as_present(tmp_path, monkeypatch):
    from i2i_core.evaluation import EvalOptions, plan, weights_present
    from i2i_core.metrics import weights

    monkeypatch.setenv("I2I_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert not weights_present(EvalOptions())["inception"]
    (tmp_path / weights.INCEPTION.aliases[0]).write_bytes(b"")  # torch-fidelity's name for the same file
    assert weights_present(EvalOptions())["inception"]
    # On Inception features the distribution suite would repeat the inception suite's fid and kid.
    jobs = [(suite, metric.id) for suite, metric in plan(EvalOptions(features="inception"), ["distribution"])]
    assert ("inception", "fid") in jobs and ("inception", "kid") in jobs
    assert ("distribution", "fd") not in jobs and ("distribution", "kid") not in jobs
    assert ("distribution", "fd") in [(s, m.id) for s, m in plan(EvalOptions(), ["distribution"])]


def test_multimodal_outputs_of_a_target_without_styles_get_the_unimodal_scores():
    data = oracle.demo_test_batch("shapes-styles", 32, 6, "BtoA")
    truths = (data["target"] + 1) / 2
    samples = torch.stack([truths, truths], 1)  # two "codes", both the true A render
    scores = oracle.multimodal_scores(samples, data["layout"], oracle.PALETTE_A, styled=False, truths=truths)
    assert scores["miou"] == pytest.approx(1.0) and scores["oracle_mae"] == pytest.approx(0.0, abs=1e-6)
    assert scores["pixel_diversity"] == 0.0 and "coverage" not in scores and "valid_rate" not in scores
    with pytest.raises(ValueError, match="truths"):
        oracle.multimodal_scores(samples, data["layout"], oracle.PALETTE_A, styled=False)
