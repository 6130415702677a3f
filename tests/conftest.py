"""Shared fixtures: one longer training run that several test files read."""
import json
from pathlib import Path

import pytest

from i2i_core.recipe import BuildOptions, build_recipe
from i2i_core.training import Trainer, TrainOptions

SHARED_STEPS = 400


@pytest.fixture(scope="session")
def cyclegan_demo_run(tmp_path_factory) -> Path:
    """The 400-step ``tiny`` CycleGAN run on the demo data, with the README's demo defaults."""
    out = tmp_path_factory.mktemp("shared") / "cyclegan"
    build = BuildOptions(image_size=32, preset="tiny")
    recipe = build_recipe("cyclegan", build, sets={"data.batch_size": 8})
    trainer = Trainer(recipe, TrainOptions(data="demo", out=out, steps=SHARED_STEPS, log_every=50,
                                           save_every=200, sample_every=200), build)
    trainer.fit()
    return out


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
