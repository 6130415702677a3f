"""The wheel ships every module: a subpackage left out of it breaks only non-editable installs
(``pip install .``), which the rest of the suite, running from the source tree, never sees."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLED_AS = {"i2i_core": "i2i_core", "plugins": "i2i_plugins"}  # source folder → package


def source_modules() -> set[str]:
    """Every module of the source tree, as its path inside the installed package."""
    found = set()
    for folder, package in INSTALLED_AS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).parts
            if "__pycache__" not in parts and all((ROOT / folder).joinpath(*parts[:k], "__init__.py").is_file()
                                                  for k in range(len(parts))):
                found.add("/".join((package, *parts)))
    return found


def test_setuptools_finds_every_package():
    import setuptools  # noqa: F401  (distutils below is setuptools' own)
    import distutils.core

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        dist = distutils.core.run_setup("setup.py", stop_after="config")
    finally:
        os.chdir(cwd)
    expected = {str(Path(m).parent).replace("/", ".") for m in source_modules()}
    assert set(dist.packages) == expected, f"missing: {expected - set(dist.packages)}"


def test_wheel_holds_every_module(tmp_path):
    """Built from a copy of the tree with the installed setuptools (no download, a few seconds)."""
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("building offline needs pyproject.toml's build requirement, setuptools >= 77")
    tree = tmp_path / "src"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        (tree / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, tree / name)
    for folder in INSTALLED_AS:
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(tree)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("i2i-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert source_modules() - names == set()
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "i2i_plugins.builtin" in zipfile.ZipFile(wheel).read(entry_points).decode()
