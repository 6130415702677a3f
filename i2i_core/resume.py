"""What ``i2i train --resume`` may change in a run, and what it says about the change.

A resumed run continues the run its folder's ``config.json`` describes, so an option that would
make it another run (data, image size, preset, seed, direction, batch, a setting, a plugin) is
refused when it differs from the recorded one, naming it; one that is only repeated is fine.
The length (``--steps``, ``--epochs``) and how the run is carried out (device, precision,
compile, workers, log/save/sample intervals) may change; the new length is recorded.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import plugins as registry
from .demo import demo_name
from .errors import ConfigError
from .runconfig import RunConfig
from .settings import coerce, jsonable, parse_add


def load_for_resume(args) -> tuple[RunConfig, object, dict]:
    """The run in ``args.out``: its config, its recipe as trained, and its training options with
    this command's length on top. ConfigError naming every option that would change the run."""
    if not (args.out / "config.json").is_file():
        raise ConfigError(f"--resume: {args.out} holds no run (no config.json)")
    config = RunConfig.load(args.out)
    if config.recipe != args.recipe:
        raise ConfigError(f"--resume: {args.out} holds a {config.recipe!r} run, not {args.recipe!r}")
    recipe = config.build_recipe()
    changed = _changed_options(args, config, recipe)
    if changed:
        raise ConfigError(f"--resume continues the run in {args.out} as configured, but {'; '.join(changed)} "
                          f"(choose another --out for a new run)")
    run = dict(config.train)
    if args.epochs is not None and args.steps is None:  # a new length in epochs replaces the recorded steps
        run.update(steps=None, epochs=args.epochs)
    return config, recipe, run


def _changed_options(args, config: RunConfig, recipe) -> list[str]:
    def differs(option: str, given, recorded) -> str:
        return f"{option} {given}".rstrip() + f" differs from the run's {recorded}"

    changed = []
    if not _same_data(args.data, config.data):
        changed.append(differs("--data", args.data, config.data))
    for option, given, recorded in (("--image-size", args.image_size, config.build.image_size),
                                    ("--preset", args.preset, config.build.preset),
                                    ("--seed", args.seed, config.train.get("seed", 0)),
                                    ("--direction", args.direction, config.direction),
                                    ("--batch-size", args.batch_size, config.settings.get("data.batch_size"))):
        if given is not None and given != recorded:
            changed.append(differs(option, given, recorded))
    current = recipe.settings()
    for key, raw in args.sets:
        if key not in current:
            recipe.set(key, raw)  # refused with the valid keys, as on a fresh run
        value = coerce(raw, current[key], key)
        if jsonable(value) != jsonable(current[key]):
            changed.append(differs(f"--set {key}={raw}", "", f"{key} = {json.dumps(jsonable(current[key]))}"))
    for spec in args.adds:
        registry.get_loss(parse_add(spec)[0])  # an unknown plugin is named, as on a fresh run
    if args.adds and list(args.adds) != list(config.adds):
        changed.append(f"--add {' --add '.join(args.adds)} differs from the run's plugins "
                       f"({', '.join(map(str, config.adds)) or 'none added'})")
    return changed


def _same_data(given: str, recorded: str | None) -> bool:
    if recorded is None or given == recorded:
        return True
    if given.startswith("demo") or recorded.startswith("demo"):
        try:
            return demo_name(given) == demo_name(recorded)  # demo is demo:shapes
        except ValueError:
            return False
    return Path(given).resolve() == Path(recorded).resolve()


def schedule_note(recipe, recorded_total: int | None, total: int, step: int) -> str | None:
    """The line saying that a resumed run with a new length is not the run that length would have
    been from the start: the learning rate follows the new total from ``step`` on."""
    if recorded_total is None or recorded_total == total or recipe.schedule.policy == "constant":
        return None
    how = "stretched" if total > recorded_total else "compressed"
    return (f"i2i: the {recorded_total}-step run continues to {total} steps: its {recipe.schedule.policy} learning-rate "
            f"schedule is {how} to {total} steps from step {step} on, so the run differs from a {total}-step run "
            f"started afresh")
