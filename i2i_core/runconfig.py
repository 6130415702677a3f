"""A run's configuration: what ``config.json`` and every checkpoint record, and the one way to read it.

Training writes it, ``--resume`` reads it back from the run folder, ``i2i translate`` and
``i2i eval`` read it from the checkpoint they load. Each of them rebuilds the run's recipe with
:meth:`RunConfig.build_recipe`, so a run is rebuilt the same way everywhere.
"""
from __future__ import annotations

import json
from pathlib import Path

import attrs

from .checkpoint import write_atomic
from .errors import CheckpointError, ConfigError
from .recipe import BuildOptions, Recipe, build_recipe


def _build_options(value) -> BuildOptions:
    return value if isinstance(value, BuildOptions) else BuildOptions(**value)


@attrs.define(kw_only=True)
class RunConfig:
    """recipe:   the registered recipe name.
    build:    what the recipe's networks were chosen for (image size, channels, preset).
    train:    the training options as run (data, steps, seed, direction, device, ...).
    adds:     the ``--add`` plugins, as given.
    settings: every resolved hyper-parameter by dotted key (presets and ``--set`` applied).
    """

    recipe: str
    build: BuildOptions = attrs.field(converter=_build_options)
    train: dict = attrs.field(factory=dict)
    adds: list = attrs.field(factory=list, converter=list)
    settings: dict = attrs.field(factory=dict)
    i2i_version: str = ""

    # -- reading -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "RunConfig":
        try:
            return cls(recipe=data["recipe"], build=data["build"], train=data.get("train", {}),
                       adds=data.get("adds", []), settings=data.get("settings", {}),
                       i2i_version=data.get("i2i_version", ""))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{source} is not an i2i run configuration (missing or bad field: {exc})") from exc

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        """From a run folder (its ``config.json``) or a ``config.json`` file."""
        path = Path(path)
        file = path / "config.json" if path.is_dir() else path
        try:
            data = json.loads(file.read_text())
        except OSError as exc:
            raise ConfigError(f"{path} holds no run (cannot read {file}: {exc.strerror})") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file} is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{file} is not an i2i run configuration")
        return cls.from_dict(data, str(file))

    @classmethod
    def from_checkpoint(cls, state: dict, path: Path | str = "checkpoint") -> "RunConfig":
        """The configuration a checkpoint (as loaded by :func:`i2i_core.checkpoint.load`) records."""
        try:
            data = json.loads(state["config"])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path} records no run configuration") from exc
        return cls.from_dict(data, str(path))

    # -- using ---------------------------------------------------------------------------------
    def build_recipe(self) -> Recipe:
        """The run's recipe as trained. The settings already hold the preset's values, so the
        recipe is built from its paper defaults and every recorded setting is applied on top."""
        return build_recipe(self.recipe, attrs.evolve(self.build, preset="paper"), sets=self.settings, adds=self.adds)

    @property
    def direction(self) -> str:
        return self.train.get("direction", "AtoB")

    @property
    def data(self) -> str | None:
        return self.train.get("data")

    # -- writing -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"i2i_version": self.i2i_version, "recipe": self.recipe, "build": attrs.asdict(self.build),
                "train": self.train, "adds": self.adds, "settings": self.settings}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, folder: Path) -> Path:
        """Write ``folder/config.json`` atomically."""
        target = Path(folder) / "config.json"
        text = self.to_json().encode()
        write_atomic(target, lambda f: f.write(text))
        return target
