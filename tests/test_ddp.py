"""DistributedDataParallel under torchrun, on CPU with gloo: two processes on half batches take the
same step as one process on the whole batch."""
import json
import os
import subprocess
import sys

import pytest
import torch

# Without normalisation layers every parameter has a real gradient: a conv bias before instance
# norm has a zero one, and Adam's first step turns its float noise into a full ±lr move.
NO_NORM = [arg for net in ("G_AB", "G_BA", "D_A", "D_B") for arg in ("--set", f"nets.{net}.norm=none")]
COMMON = ["train", "cyclegan", "--data", "demo", "--steps", "1", "--precision", "fp32", "--workers", "0",
          "--log-every", "1", "--set", "nets.G_AB.n_blocks=1", "--set", "nets.G_BA.n_blocks=1", *NO_NORM]


def run(args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=240, **kwargs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    two = run(["-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533",
               "-m", "i2i_core", *COMMON, "--out", str(root / "two"), "--batch-size", "2"])
    assert two.returncode == 0, two.stderr[-3000:]
    one = run(["-m", "i2i_core", *COMMON, "--out", str(root / "one"), "--batch-size", "4"])
    assert one.returncode == 0, one.stderr[-3000:]
    return root


def test_two_processes_equal_one_on_the_concatenated_batch(runs):
    two = torch.load(runs / "two" / "checkpoints" / "latest.pt", weights_only=True)
    one = torch.load(runs / "one" / "checkpoints" / "latest.pt", weights_only=True)
    assert two["world_size"] == 2 and len(two["ranks"]) == 2
    for name, weights in one["nets"].items():
        for key, value in weights.items():
            torch.testing.assert_close(two["nets"][name][key], value, rtol=1e-4, atol=1e-5, msg=f"{name}.{key}")


def test_metrics_record_the_world_size_and_global_means(runs):
    two = [json.loads(line) for line in (runs / "two" / "metrics.jsonl").read_text().splitlines()]
    one = [json.loads(line) for line in (runs / "one" / "metrics.jsonl").read_text().splitlines()]
    assert len(two) == 1 and two[0]["world_size"] == 2 and one[0]["world_size"] == 1
    for key in ("cycle", "identity", "adversarial", "adversarial/D"):
        assert two[0][key] == pytest.approx(one[0][key], rel=1e-4)


def test_resume_needs_the_same_world_size(runs):
    out = run(["-m", "i2i_core", "train", "cyclegan", "--data", "demo", "--out", str(runs / "two"), "--resume",
               "--steps", "2"])
    assert out.returncode == 2 and "written by 2 process(es)" in out.stderr
