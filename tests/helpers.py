"""What the test files share: tiny training runs, a stop request at a chosen step, the metrics
rows of a run, parameter counts, the command line's answer to bad input. Imported as ``helpers`` (tests/ is on sys.path, as conftest.py's
folder)."""
import contextlib
import json
import signal
from pathlib import Path

import pytest
import torch

from i2i_core import plugins as registry
from i2i_core.hooks import hookimpl
from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.training import Interrupted, Trainer, TrainOptions

SHARED_STEPS = 400  # the length of conftest.py's shared CycleGAN run


def tiny_build(image_size: int = 32) -> BuildOptions:
    """32×32 images (or ``image_size``) and the recipe's ``tiny`` preset."""
    return BuildOptions(image_size=image_size, preset="tiny")


def tiny_trainer(recipe: str, out: Path, steps: int, *, data: str = "demo", batch: int | None = 2,
                 sets: dict | None = None, adds: list | None = None, resume: bool | str = False,
                 sample_every: int | None = None, sample_dataset=None, image_size: int = 32, **train) -> Trainer:
    """A Trainer for a short run of ``recipe`` built with ``tiny_build(image_size)``.

    ``batch`` is set as data.batch_size ahead of ``sets``, which may override it (None: the
    recipe's own batch size). ``adds`` go to the recipe and to the trainer. ``resume`` is a bool,
    or "auto": resume when ``out`` already holds a checkpoint. ``sample_every`` defaults to
    ``steps`` (one sample grid, at the end). Further keywords are TrainOptions fields (log_every,
    save_every, keep, ...); those not given keep TrainOptions' defaults.
    """
    build = tiny_build(image_size)
    settings = {"data.batch_size": batch, **(sets or {})} if batch is not None else dict(sets or {})
    built = build_recipe(recipe, build, sets=settings, adds=adds)
    sample_every = steps if sample_every is None else sample_every
    options = TrainOptions(data=data, out=out, steps=steps, sample_every=sample_every, **train)
    if resume == "auto":
        resume = (Path(out) / "checkpoints" / "latest.pt").exists()
    return Trainer(built, options, build, adds=adds, resume=resume, sample_dataset=sample_dataset)


@contextlib.contextmanager
def stop_after(step: int):
    """While open, a trainer that finishes ``step`` is asked to stop through the real interruption
    path, ``Trainer.request_stop(SIGINT)``, as Ctrl-C does: ``fit`` saves and raises Interrupted
    (the command line exits with 128 + SIGINT)."""
    class Stopper:
        @hookimpl
        def i2i_step_end(self, trainer, step, logged):
            if trainer.step == stop:
                trainer.request_stop(signal.SIGINT, None)

    stop, plugin = step, Stopper()
    registry.plugin_manager().register(plugin)
    try:
        yield
    finally:
        registry.plugin_manager().unregister(plugin)


def read_metrics(run: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def on_meta(factory, **kwargs):
    """Build on the meta device: counting parameters needs no memory or init time."""
    with torch.device("meta"):
        return factory(**kwargs)


def resume_matches_straight_run(make, out: Path, stop: int):
    """Train ``make(folder, resume)`` straight through, and once more interrupted at step ``stop``
    and resumed; assert that the resumed run starts at ``stop`` and ends with the straight run's
    weights, every network and plugin module bit for bit. Returns (straight, resumed)."""
    straight = make(out / "straight", False)
    straight.fit()
    with stop_after(stop), pytest.raises(Interrupted):
        make(out / "resumed", False).fit()
    resumed = make(out / "resumed", True)
    assert resumed.step == stop
    resumed.fit()
    for name, module in straight.modules.items():
        for (key, a), b in zip(module.state_dict().items(), resumed.modules[name].state_dict().values()):
            assert torch.equal(a, b), f"{name}.{key} differs after resume"
    return straight, resumed



def cli(capsys, *argv):
    """``i2i ARGV`` in this process: (exit status, stdout, stderr)."""
    from i2i_core.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def expect_cli_error(capsys, *argv, match):
    """``i2i ARGV`` fails as the README promises: exit status 2 and one line naming ``match`` (a
    string, or a list of strings that must all appear)."""
    code, _, err = cli(capsys, *argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for part in [match] if isinstance(match, str) else match:
        assert part in err, err
    return err
    return err
