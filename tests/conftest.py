"""Shared fixtures: one longer training run that several test files read."""
from pathlib import Path

import pytest

from helpers import SHARED_STEPS, tiny_trainer


@pytest.fixture(scope="session")
def cyclegan_demo_run(tmp_path_factory) -> Path:
    """The 400-step ``tiny`` CycleGAN run on the demo data, with the README's demo defaults."""
    out = tmp_path_factory.mktemp("shared") / "cyclegan"
    trainer = tiny_trainer("cyclegan", out, SHARED_STEPS, batch=8, log_every=50, save_every=200, sample_every=200)
    trainer.fit()
    return out
