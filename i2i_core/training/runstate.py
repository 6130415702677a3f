"""The run state: seeds and random streams, and the checkpoint that lets a run resume exactly.

A checkpoint holds the networks, the plugins' own modules, the optimisers, and per process the
random streams, the image pools and the log book's partial sums. The learning rate and the data
order are pure functions of the step, so they need no state of their own.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .. import checkpoint as ckpt
from .. import distributed
from .. import plugins as registry
from ..errors import ConfigError, I2IError, NonFiniteWeights


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]),
                   "gauss": py_state[2] if py_state[2] is None else float(py_state[2])},
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def state_dict(trainer) -> dict:
    """Everything a resumed run needs, gathered from every process."""
    return {
        "format": ckpt.FORMAT,
        "i2i_version": __version__,
        "step": trainer.step,
        "total_steps": trainer.total_steps,
        "config": json.dumps(trainer.config().to_dict()),
        "nets": {name: net.state_dict() for name, net in trainer.nets.items()},
        "plugins": {inst: {k: m.state_dict() for k, m in p.modules().items()} for inst, p in trainer.plugins.items()},
        "optimizers": {name: opt.state_dict() for name, opt in trainer.optimizers.items()},
        "world_size": trainer.world.size,
        # What differs between processes, one entry per rank: random streams, pools, partial sums.
        "ranks": distributed.all_gather({"rng": rng_state(),
                                         "state": {n: obj.state_dict() for n, obj in trainer.recipe.state.items()},
                                         "logs": trainer.logbook.state_dict()}, trainer.world),
    }


def save(trainer) -> Path:
    """Write ``checkpoints/latest.pt`` atomically (and a numbered copy with ``--keep``), after
    checking that every loss and weight is finite and that the processes hold equal weights."""
    trainer.logbook.check_finite(trainer.last_checkpoint)
    sums = distributed.weight_sums(trainer.modules, trainer.device)
    broken = [name for name, ok in zip(trainer.modules, torch.isfinite(sums).tolist()) if not ok]
    if broken:
        raise NonFiniteWeights(broken, trainer.step, trainer.last_checkpoint)
    drifted = distributed.diverged(sums, list(trainer.modules), trainer.world)
    if drifted:
        raise I2IError(f"the processes hold different weights for {', '.join(drifted)} at step {trainer.step} "
                       f"(replicas must stay equal: a module updated outside DistributedDataParallel, or "
                       f"updates that differ between processes); no checkpoint written")
    folder = trainer.out / "checkpoints"
    path = folder / "latest.pt"
    state = state_dict(trainer)
    if not trainer.world.main:
        return path
    ckpt.save_atomic(state, path)
    keep = trainer.options.keep
    if keep > 0:
        ckpt.save_atomic(state, folder / f"step_{trainer.step:07d}.pt")
        for old in sorted(folder.glob("step_*.pt"))[:-keep]:
            old.unlink(missing_ok=True)
    trainer.last_checkpoint = path
    registry.hook().i2i_checkpoint_saved(trainer=trainer, path=path)
    return path


def load(trainer, path: Path) -> None:
    """Restore ``trainer`` from the checkpoint at ``path``, this process's own streams included."""
    state = ckpt.load(path)
    for name, net in trainer.nets.items():
        net.load_state_dict(state["nets"][name])
    for inst, plugin in trainer.plugins.items():
        for key, module in plugin.modules().items():
            module.load_state_dict(state["plugins"][inst][key])
    for name, opt in trainer.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    saved_world = int(state.get("world_size", 1))
    if saved_world != trainer.world.size:
        raise ConfigError(f"{path} was written by {saved_world} process(es); resume it with the same number, "
                          f"not {trainer.world.size}")
    mine = state["ranks"][trainer.world.rank]
    for name, obj in trainer.recipe.state.items():
        obj.load_state_dict(mine["state"][name], device=trainer.device)
    set_rng_state(mine["rng"])
    trainer.step = int(state["step"])
    trainer.logbook.load_state_dict(mine["logs"], trainer.device)
    trainer.last_checkpoint = path
    if trainer.step >= trainer.total_steps:
        raise ConfigError(f"{path} is already at step {trainer.step}; pass --steps larger than that to continue")
    registry.hook().i2i_checkpoint_loaded(trainer=trainer, path=path)


def hold_run_folder(out: Path):
    """An exclusive lock on ``out/.lock`` (an open file: the operating system releases it when the
    process ends, even by ``kill -9``), holding the holder's pid; ConfigError when another process
    holds it. Where ``fcntl`` is missing (Windows) the folder is not locked."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = open(out / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(f"{out} is being written by another i2i train process (pid {holder}); wait for it to end "
                          f"or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle

