"""End-to-end training: the shared demo run's checkpoint, exact resume, checkpoints, signals, non-finite
losses and weights."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import SHARED_STEPS, read_metrics, stop_after, tiny_trainer
from i2i_core import checkpoint as ckpt
from i2i_core.cli import main
from i2i_core.training import Interrupted


def test_checkpoint_is_plain_data(cyclegan_demo_run):
    state = torch.load(cyclegan_demo_run / "checkpoints" / "latest.pt", weights_only=True, map_location="cpu")
    assert state["step"] == SHARED_STEPS and state["format"] == ckpt.FORMAT
    assert set(state["nets"]) == {"G_AB", "G_BA", "D_A", "D_B"} and state["ranks"][0]["state"]["pool_A"]["images"].shape[0] > 0


def tiny(tmp, steps, recipe="cyclegan", save_every=100, **train):
    one_block = {"nets.G_AB.n_blocks": 1, "nets.G_BA.n_blocks": 1} if recipe == "cyclegan" else None
    return tiny_trainer(recipe, tmp, steps, sets=one_block, log_every=2, save_every=save_every, sample_every=100,
                        resume="auto", **train)


@pytest.mark.parametrize("recipe", ["cyclegan", "pix2pix", "munit"])  # munit: latent codes each step
def test_resume_is_exact(tmp_path, recipe):
    straight = tiny(tmp_path / "straight", 6, recipe)
    straight.fit()
    first = tiny(tmp_path / "resumed", 6, recipe)
    with stop_after(3), pytest.raises(Interrupted):
        first.fit()
    second = tiny(tmp_path / "resumed", 6, recipe)
    assert second.step == 3
    second.fit()
    for name, net in straight.nets.items():
        for (key, a), b in zip(net.state_dict().items(), second.nets[name].state_dict().values()):
            assert torch.equal(a, b), f"{name}.{key} differs after resume"
    for name, opt in straight.optimizers.items():
        assert opt.param_groups[0]["lr"] == second.optimizers[name].param_groups[0]["lr"]
    assert read_metrics(tmp_path / "straight")[-1] == read_metrics(tmp_path / "resumed")[-1]


def test_resume_after_a_hard_kill_logs_each_step_once(tmp_path):
    """A run killed (SIGKILL, power loss) after logging past its last checkpoint, mid-line: the
    resumed run drops those rows and logs the steps again, so metrics.jsonl equals a straight run's."""
    import shutil

    straight = tiny(tmp_path / "straight", 6, save_every=2, keep=3)
    straight.fit()
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "straight", killed)
    shutil.copy(killed / "checkpoints" / "step_0000004.pt", killed / "checkpoints" / "latest.pt")
    with open(killed / "metrics.jsonl", "a") as f:
        f.write('{"step": 8, "adversa')
    (killed / "metrics.jsonl").chmod(0o640)
    resumed = tiny(killed, 6, save_every=2, keep=3)
    assert resumed.step == 4
    resumed.fit()
    rows = [row["step"] for row in read_metrics(killed)]
    assert rows == [1, 2, 4, 6]
    assert read_metrics(killed) == read_metrics(tmp_path / "straight")
    assert (killed / "metrics.jsonl").stat().st_mode & 0o777 == 0o640  # rewritten with its permissions


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer = tiny(tmp_path, 2)
    trainer.fit()
    path = tmp_path / "checkpoints" / "latest.pt"
    before = path.read_bytes()

    def dies_midway(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(OSError):
        trainer.save()
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name != "latest.pt"]  # no temporary left behind


def test_keep_k_numbered_checkpoints(tmp_path):
    tiny(tmp_path, 5, save_every=1, keep=2).fit()
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*.pt")) == ["step_0000004.pt", "step_0000005.pt"]


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_nonfinite_loss_stops_naming_the_plugin(tmp_path, monkeypatch, capsys, bad):
    from i2i_plugins.cycle import Cycle

    original = Cycle.loss
    monkeypatch.setattr(Cycle, "loss", lambda self, step, role: original(self, step, role) * float(bad)
                        if step.index >= 2 else original(self, step, role))
    code = main(["train", "cyclegan", "--data", "demo", "--out", str(tmp_path), "--steps", "6", "--log-every", "2",
                 "--save-every", "2", "--batch-size", "2"])
    err = capsys.readouterr().err
    assert code == 3 and "'cycle'" in err and "step 3" in err
    state = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=True)
    assert state["step"] == 2  # the last good checkpoint is kept


def test_a_nonfinite_loss_stops_at_the_next_log_row_not_the_next_save(tmp_path, monkeypatch, capsys):
    from i2i_plugins.cycle import Cycle

    original = Cycle.loss
    monkeypatch.setattr(Cycle, "loss", lambda self, step, role: original(self, step, role) * float("nan")
                        if step.index >= 2 else original(self, step, role))
    code = main(["train", "cyclegan", "--data", "demo", "--out", str(tmp_path), "--steps", "6", "--log-every", "1",
                 "--save-every", "100", "--batch-size", "2"])
    assert code == 3 and "step 3" in capsys.readouterr().err
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["step"] for row in rows] == [1, 2]  # no row holds a NaN


def test_nan_gradients_from_finite_losses_stop_before_a_save(tmp_path):
    from i2i_core.training import NonFiniteWeights

    trainer = tiny(tmp_path, 6, save_every=2)
    calls = []

    def poison(grad):  # step 4's losses are finite, its gradient for G_AB is NaN: caught by the save at step 4
        calls.append(1)
        return grad * float("nan") if len(calls) > 3 else grad

    next(trainer.nets["G_AB"].parameters()).register_hook(poison)
    with pytest.raises(NonFiniteWeights, match="non-finite weights in G_AB at step 4"):
        trainer.fit()
    assert torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=True)["step"] == 2


def test_sigint_saves_a_checkpoint_then_exits(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "i2i_core", "train", "cyclegan", "--data", "demo", "--out",
                             str(tmp_path), "--steps", "100000", "--batch-size", "2", "--save-every", "100000"],
                            env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT, err
    state = ckpt.load(tmp_path / "checkpoints" / "latest.pt")
    assert state["step"] >= 1 and "--resume" in err


def test_a_second_process_on_a_run_folder_in_use_is_refused_and_a_killed_one_leaves_no_lock(tmp_path, capsys):
    train = ["train", "cyclegan", "--data", "demo", "--out", str(tmp_path), "--batch-size", "2", "--save-every", "10000"]
    proc = subprocess.Popen([sys.executable, "-m", "i2i_core", *train, "--steps", "5000"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        lock, deadline = tmp_path / ".lock", time.time() + 120
        while not (lock.is_file() and lock.read_text().strip()) and time.time() < deadline:
            time.sleep(0.1)
        assert main([*train, "--steps", "2"]) == 2
        assert f"is being written by another i2i train process (pid {proc.pid})" in capsys.readouterr().err
    finally:
        proc.kill()
        proc.wait()
    assert main([*train, "--steps", "2"]) == 0  # SIGKILL released the lock
