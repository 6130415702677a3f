"""A stranger's plugin package, end to end: pip-installed, listed, trained with, tested; and the examples run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PACKAGE = EXAMPLES / "tv_plugin"


def run(args, env_extra=None, cwd=None):
    env = dict(os.environ, **(env_extra or {}))
    # The networks are tiny: one thread is fastest, and OpenMP threads spin against each other
    # (seconds per step) when other processes share the cores.
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The example package pip-installed into a temporary target; returns the environment that sees it."""
    pytest.importorskip("setuptools", reason="--no-build-isolation builds with the venv's setuptools")
    tmp = tmp_path_factory.mktemp("third_party")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    source = shutil.copytree(PACKAGE, tmp / "source", ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                                     "__pycache__"))
    target = tmp / "site"
    result = run(["-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-input", "--quiet",
                  "--target", str(target), str(source)])
    assert result.returncode == 0, result.stderr
    path = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}


def plugin_lines(env) -> list[str]:
    result = run(["-m", "i2i_core", "plugins"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_installed_package_is_listed_with_its_distribution(installed):
    lines = plugin_lines(installed)
    tv = [line for line in lines if line.startswith("tv ")]
    assert tv and "i2i-tv-loss" in tv[0], lines


def test_disabled_autoload_hides_the_package_but_keeps_the_builtins(installed):
    lines = plugin_lines({**installed, "I2I_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert not any(line.startswith("tv ") for line in lines), lines
    assert any(line.startswith("cycle ") for line in lines), lines


def test_training_with_the_installed_plugin_logs_its_term(installed, tmp_path):
    out = tmp_path / "run"
    result = run(["-m", "i2i_core", "train", "cyclegan", "--data", "demo", "--out", str(out), "--steps", "3",
                  "--log-every", "1", "--add", "tv:weight=0.5"], installed)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all("tv" in row for row in rows), rows


def test_the_package_own_tests_pass_against_the_installed_copy(installed, tmp_path):
    # cwd is a temporary folder so hypothesis keeps its example database out of the repository.
    result = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE / "tests")], installed, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["compose_recipe.py", "custom_recipe.py"])
def test_example_script_trains(script, tmp_path):
    result = run([str(EXAMPLES / script), "--steps", "3", "--out", str(tmp_path / "run")])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["step"] == 3


def contributing_example(section: str) -> str:
    """The first Python block under the CONTRIBUTING.md heading ``section``."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    body = text[text.index(f"### {section}\n"):]
    return body[body.index("```python\n") + len("```python\n"):body.index("\n```\n")]


@pytest.fixture
def gradient_penalty_installed():
    """CONTRIBUTING.md's WGAN-GP plugin, as its author would have written it from there alone."""
    from i2i_core import plugins as registry
    from i2i_core.hooks import hookimpl

    namespace = {}
    exec(compile(contributing_example("A plugin that works on the recipe's discriminators"), "CONTRIBUTING.md", "exec"),
         namespace)

    class Package:
        @hookimpl
        def i2i_losses(self):
            return [namespace["GradientPenalty"]]

    package = Package()
    registry.plugin_manager().register(package)
    registry._losses.cache_clear()
    yield namespace
    registry.plugin_manager().unregister(package)
    registry._losses.cache_clear()


@pytest.mark.parametrize("recipe, add, judged", [
    ("pix2pix", "wgan_gp", {("D", "real_B", "real_A")}),  # a conditional D, with its condition
    ("cyclegan", "wgan_gp:discriminator=D_A", {("D_A", "real_A", None)}),
])
def test_contributings_gradient_penalty_drops_into_recipes_through_their_judgements(
        gradient_penalty_installed, tmp_path, recipe, add, judged):
    from helpers import tiny_trainer

    trainer = tiny_trainer(recipe, tmp_path, steps=1, adds=[add])
    assert {j.key for j in trainer.plugins["wgan_gp"]._judged} == judged
    trainer.train_step(trainer.batch_for(0), 0)
    assert trainer.logbook.sums["wgan_gp/D"] > 0


def test_contributings_gradient_penalty_on_the_example_step(gradient_penalty_installed):
    from i2i_plugins.testing import example_judged

    plugin = gradient_penalty_installed["GradientPenalty"]()
    value = plugin.loss(example_judged(plugin, condition=True), "D")
    assert value.dim() == 0 and value.isfinite() and value > 0
