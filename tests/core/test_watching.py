"""Watching a run: progress lines where stderr is no terminal, loggers chosen with --log and
driven by the event hooks (a third party's and the built-in TensorBoard one)."""
import io
import re
import sys
from types import SimpleNamespace

import pytest

from helpers import read_metrics, tiny_trainer
from i2i_core import plugins as registry
from i2i_core.cli import main
from i2i_core.hooks import hookimpl
from i2i_core.training import watch


class Recorder:
    """A logger as a third party writes one: a class registered through ``i2i_loggers``."""
    events: list = []

    @hookimpl
    def i2i_step_end(self, trainer, step, logged):
        if logged is not None:
            self.events.append(("row", step, sorted(logged)))

    @hookimpl
    def i2i_samples_saved(self, trainer, step, path):
        self.events.append(("samples", step, path.is_file()))


class RecorderPlugin:
    @hookimpl
    def i2i_loggers(self):
        return {"recorder": Recorder}


@pytest.fixture
def recorder_registered():
    plugin = RecorderPlugin()
    registry.plugin_manager().register(plugin)
    registry._loggers.cache_clear()
    Recorder.events = []
    try:
        yield
    finally:
        registry.plugin_manager().unregister(plugin)
        registry._loggers.cache_clear()


def test_a_run_without_a_terminal_prints_a_line_per_log_row_and_drives_its_loggers(tmp_path, capsys,
                                                                                   recorder_registered):
    trainer = tiny_trainer("pix2pix", tmp_path, 4, log_every=2, sample_every=2, log=["recorder"])
    trainer.fit()
    lines = capsys.readouterr().err.strip().splitlines()
    assert [int(re.match(r"pix2pix step (\d+)/4  [\d.]+ steps/s  ETA \d+:\d\d:\d\d  ", line)[1])
            for line in lines] == [1, 2, 4]
    assert "paired_l1 " in lines[-1] and "adversarial/D " in lines[-1]
    rows = read_metrics(tmp_path)
    assert Recorder.events == [("row", 1, sorted(rows[0])), ("samples", 2, True), ("row", 2, sorted(rows[1])),
                               ("samples", 4, True), ("row", 4, sorted(rows[2]))]
    assert not any(isinstance(p, Recorder) for p in registry.plugin_manager().get_plugins())  # this run only


def test_a_terminal_gets_the_bar(monkeypatch):
    from tqdm import tqdm

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    trainer = SimpleNamespace(world=SimpleNamespace(main=True), total_steps=10, step=0,
                              recipe=SimpleNamespace(name="cyclegan"))
    with watch.progress(trainer) as bar:
        assert isinstance(bar, tqdm) and not bar.disable


@pytest.mark.parametrize("log, message", [("nope", "--log: unknown logger 'nope'; valid: "),
                                          ("tensorboard", "--log tensorboard needs the tensorboard package: "
                                                          "pip install 'i2i[tensorboard]'")])
def test_an_unknown_logger_or_a_missing_extra_is_one_line(tmp_path, capsys, monkeypatch, log, message):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    code = main(["train", "pix2pix", "--data", "demo", "--out", str(tmp_path / "run"), "--steps", "1", "--log", log])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_log_tensorboard_writes_the_rows_and_samples(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install 'i2i[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(["train", "pix2pix", "--data", "demo", "--out", str(out), "--steps", "4", "--batch-size", "2",
                 "--log-every", "2", "--sample-every", "2", "--log", "tensorboard"]) == 0, capsys.readouterr().err
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0}).Reload()
    rows = read_metrics(out)
    for key in ("paired_l1", "adversarial", "adversarial/D"):
        logged = events.Scalars(key)
        assert [e.step for e in logged] == [row["step"] for row in rows] == [1, 2, 4]
        assert [e.value for e in logged] == pytest.approx([row[key] for row in rows], rel=1e-6)
    assert [e.step for e in events.Images("samples")] == [2, 4]
