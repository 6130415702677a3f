"""DistributedDataParallel under torchrun, on CPU with gloo: two processes on half batches take the
same step as one process on the whole batch, for the recipe's networks and for modules a plugin
owns (PatchNCE's projection heads)."""
import json
import os
import subprocess
import sys

import pytest
import torch

# Without normalisation layers every parameter has a real gradient: a conv bias before instance
# norm has a zero one, and Adam's first step turns its float noise into a full ±lr move.
def no_norm(*nets):
    return [arg for net in nets for arg in ("--set", f"nets.{net}.norm=none")]


def common(recipe, *extra):
    return ["train", recipe, "--data", "demo", "--steps", "1", "--precision", "fp32", "--workers", "0",
            "--log-every", "1", *extra]


COMMON = common("cyclegan", "--set", "nets.G_AB.n_blocks=1", "--set", "nets.G_BA.n_blocks=1", "--set", "identity.weight=5",
                *no_norm("G_AB", "G_BA", "D_A", "D_B"))
# Every location is a patch, so the NCE mean does not depend on the order each rank draws them in.
CUT = common("cut", "--set", "nets.G.n_blocks=1", "--set", "patchnce.num_patches=4096", *no_norm("G", "D"))


def run(args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=240, **kwargs)


def two_and_one(root, args, port):
    two = run(["-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
               "-m", "i2i_core", *args, "--out", str(root / "two"), "--batch-size", "2"])
    assert two.returncode == 0, two.stderr[-3000:]
    one = run(["-m", "i2i_core", *args, "--out", str(root / "one"), "--batch-size", "4"])
    assert one.returncode == 0, one.stderr[-3000:]
    return root


def flat(tree, prefix=""):
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    return {k: v for key, sub in tree.items() for k, v in flat(sub, f"{prefix}.{key}" if prefix else key).items()}


def assert_same_weights(two, one, part, matrices_only=False):
    ours, reference = flat(two[part]), flat(one[part])
    assert reference and ours.keys() == reference.keys()
    for key, value in reference.items():
        if value.dim() >= 2 or not matrices_only:
            torch.testing.assert_close(ours[key], value, rtol=1e-4, atol=1e-5, msg=key)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return two_and_one(tmp_path_factory.mktemp("ddp"), COMMON, 29533)


def test_two_processes_equal_one_on_the_concatenated_batch(runs):
    two = torch.load(runs / "two" / "checkpoints" / "latest.pt", weights_only=True)
    one = torch.load(runs / "one" / "checkpoints" / "latest.pt", weights_only=True)
    assert two["world_size"] == 2 and len(two["ranks"]) == 2
    assert_same_weights(two, one, "nets")


def test_modules_owned_by_a_plugin_are_synchronised_too(tmp_path):
    root = two_and_one(tmp_path, CUT, 29534)
    two = torch.load(root / "two" / "checkpoints" / "latest.pt", weights_only=True)
    one = torch.load(root / "one" / "checkpoints" / "latest.pt", weights_only=True)
    assert_same_weights(two, one, "nets")
    # The heads took the step of the whole batch. Their biases are left out: at the reference's
    # init (xavier, gain 0.02) the projected rows are tiny and nearly parallel, so a bias gradient
    # is a sum of ±1e3 terms that cancel to float noise, which Adam's first step turns into ±lr.
    assert_same_weights(two, one, "plugins", matrices_only=True)


def test_metrics_record_the_world_size_and_global_means(runs):
    two = [json.loads(line) for line in (runs / "two" / "metrics.jsonl").read_text().splitlines()]
    one = [json.loads(line) for line in (runs / "one" / "metrics.jsonl").read_text().splitlines()]
    assert len(two) == 1 and two[0]["world_size"] == 2 and one[0]["world_size"] == 1
    for key in ("cycle", "identity", "adversarial", "adversarial/D"):
        assert two[0][key] == pytest.approx(one[0][key], rel=1e-4)


def test_networks_called_in_parts_and_plugin_modules_stay_in_sync(tmp_path):
    """DRIT calls its encoders and generators method by method and trains a content discriminator
    the plugin owns; the trainer compares every module across ranks before each checkpoint."""
    out = run(["-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29535", "-m", "i2i_core",
               "train", "drit", "--data", "demo:shapes-styles", "--steps", "3", "--workers", "0",
               "--save-every", "1", "--log-every", "1", "--out", str(tmp_path / "drit")])
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("done: 3 steps") == 1 and out.stdout.count("oracle mIoU") == 1  # rank 0 reports
    state = torch.load(tmp_path / "drit" / "checkpoints" / "latest.pt", weights_only=True)
    assert state["step"] == 3 and state["world_size"] == 2 and state["plugins"]["content_adversarial"]["D"]
    rows = [json.loads(line) for line in (tmp_path / "drit" / "metrics.jsonl").read_text().splitlines()]
    assert "cross_cycle" in rows[-1] and "adversarial_random" in rows[-1]  # step 3 ran DRIT's full iteration


def test_resume_needs_the_same_world_size(runs):
    out = run(["-m", "i2i_core", "train", "cyclegan", "--data", "demo", "--out", str(runs / "two"), "--resume",
               "--steps", "2"])
    assert out.returncode == 2 and "written by 2 process(es)" in out.stderr
