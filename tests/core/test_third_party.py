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
