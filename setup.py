"""Package discovery. Every folder holding an ``__init__.py`` under ``i2i_core/`` and ``plugins/``
ships, so a new subpackage cannot be left out of the wheel. This lives here rather than in
pyproject.toml because ``plugins/`` installs as ``i2i_plugins``, a rename that
``[tool.setuptools.packages.find]`` cannot express."""
from setuptools import find_packages, setup

PACKAGE_DIRS = {"i2i_core": "i2i_core", "i2i_plugins": "plugins"}


def packages() -> list[str]:
    return [f"{name}{'.' + sub if sub else ''}" for name, folder in PACKAGE_DIRS.items()
            for sub in ["", *find_packages(folder)]]


setup(package_dir=PACKAGE_DIRS, packages=packages())
