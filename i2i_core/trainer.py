"""The one training loop: phases of summed plugin terms, exact resume, logging, samples.

Per iteration: build a :class:`~i2i_core.step.Step` on the batch, then for each phase of the
recipe (in order, when it runs at this iteration) sum ``weight × term`` of every plugin role that
joins it, back-propagate, clip and step its optimisers. Losses stay on the device; they are read
only at log intervals, where a device-side flag also catches non-finite terms.
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import time
from pathlib import Path

import attrs
import numpy as np
import torch
from torch.utils.data import DataLoader

from . import __version__
from . import checkpoint as ckpt
from . import plugins as registry
from .errors import ConfigError
from .loss import LossPlugin
from .recipe import BuildOptions, Recipe
from .step import Step


class NonFiniteLoss(RuntimeError):
    def __init__(self, key: str, step: int, checkpoint: Path | None):
        kept = f"; last good checkpoint kept at {checkpoint}" if checkpoint else "; no checkpoint was written before it"
        super().__init__(f"non-finite loss from plugin term {key!r} at step {step}{kept}")
        self.key, self.step = key, step


class Interrupted(RuntimeError):
    def __init__(self, signum: int, path: Path):
        super().__init__(f"stopped by {signal.Signals(signum).name}; checkpoint saved to {path} (continue with --resume)")
        self.signum = signum


@attrs.define(kw_only=True)
class TrainOptions:
    data: str
    out: Path = attrs.field(converter=Path)
    steps: int | None = None
    epochs: int | None = None
    device: str | None = None
    seed: int = 0
    direction: str = attrs.field(default="AtoB", validator=attrs.validators.in_(["AtoB", "BtoA"]))
    log_every: int = 50
    save_every: int = 1000
    sample_every: int = 500
    keep: int = 0
    workers: int | None = None
    samples: int = 4


def default_device(requested: str | None) -> torch.device:
    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda requested but torch sees no CUDA device")
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class StepBatches(torch.utils.data.Sampler):
    """Batches of (index, seed) keys as a pure function of the step: resuming needs no data state.

    Epoch e visits a permutation drawn from (seed, e); item (e, position) gets its own seed for
    its random crop, flip and unaligned partner, so workers and restarts never change the data.
    """

    def __init__(self, length: int, batch_size: int, seed: int, start: int, stop: int):
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start, self.stop = start, stop
        self.per_epoch = max(1, length // batch_size)

    def __len__(self):
        return max(0, self.stop - self.start)

    def keys_for(self, step: int) -> list:
        epoch, position = divmod(step, self.per_epoch)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        repeats = -(-self.batch_size // self.length)
        order = torch.cat([torch.randperm(self.length, generator=gen) for _ in range(repeats)])
        chosen = order[position * self.batch_size:(position + 1) * self.batch_size].tolist()
        base = (self.seed * 1_000_003 + epoch) * 1_000_033 + position * self.batch_size
        return [(index, base + k) for k, index in enumerate(chosen)]

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.keys_for(step)


class Trainer:
    def __init__(self, recipe: Recipe, options: TrainOptions, build: BuildOptions, *,
                 adds: list | None = None, resume: bool = False, dataset=None, sample_dataset=None):
        from .data import open_dataset

        self.recipe, self.options, self.build, self.adds = recipe, options, build, list(adds or [])
        self.device = default_device(options.device)
        self.out = Path(options.out)
        seed_everything(options.seed)
        self.dataset = dataset if dataset is not None else open_dataset(
            options.data, paired=recipe.data.paired, phase="train", image_size=build.image_size,
            channels=build.in_channels, channels_B=build.out_channels, direction=options.direction,
            load_size=recipe.data.load_size,
            preprocess_mode=recipe.data.preprocess, flip=recipe.data.flip)
        self.sample_dataset = sample_dataset if sample_dataset is not None else _sample_source(
            options, recipe, build, self.dataset)
        batch = recipe.data.batch_size
        self.steps_per_epoch = max(1, len(self.dataset) // batch)
        if options.steps is not None:
            self.total_steps = options.steps
        else:
            self.total_steps = (options.epochs or recipe.data.epochs) * self.steps_per_epoch
        if self.total_steps < 1:
            raise ConfigError(f"--steps must be at least 1, got {self.total_steps}")

        self.nets = {name: spec.build().to(self.device) for name, spec in recipe.nets.items()}
        for k, (name, pool) in enumerate(sorted(recipe.state.items())):
            pool.reset(options.seed * 7919 + k)
        self.plugins = recipe.active_plugins()
        self._materialize(self._batch_for(0))
        self.modules = dict(self.nets)
        for instance, plugin in self.plugins.items():
            for key, module in plugin.modules().items():
                self.modules[f"{instance}.{key}"] = module.to(self.device)
        # A plugin switched off (weight 0) takes the optimiser it added for its own modules with it.
        owners = set(self.nets) | set(self.plugins)
        self.optimizers = {name: self._make_optimizer([m for m in spec.modules if m in owners], spec)
                           for name, spec in recipe.optimizers.items() if any(m in owners for m in spec.modules)}
        self.step = 0
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._first_bad: dict[str, torch.Tensor] = {}
        self._stop_signal: int | None = None
        self.last_checkpoint: Path | None = None
        if resume:
            self.load(self.out / "checkpoints" / "latest.pt")

    # -- setup ---------------------------------------------------------------------------------
    def _batch_for(self, step: int) -> dict:
        keys = StepBatches(len(self.dataset), self.recipe.data.batch_size, self.options.seed, step, step + 1).keys_for(step)
        items = [self.dataset[key] for key in keys]
        return {name: torch.stack([item[name] for item in items]).to(self.device) for name in items[0]}

    def _materialize(self, batch: dict) -> None:
        if all(type(p).materialize is LossPlugin.materialize for p in self.plugins.values()):
            return
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            step = Step(batch, self.nets, self.recipe.products, self.recipe.state, training=True)
            for plugin in self.plugins.values():
                plugin.materialize(step)

    def _owner_params(self, name: str) -> list:
        if name in self.nets:
            return list(self.nets[name].parameters())
        params = []
        for module in self.plugins[name].modules().values():
            params += list(module.parameters())
        return params

    def _make_optimizer(self, modules: list, spec) -> torch.optim.Optimizer:
        base = self.recipe.optim
        params = [p for module in modules for p in self._owner_params(module)]
        if not params:
            raise ConfigError(f"optimiser over {modules} has no parameters")
        lr = base.lr * spec.lr_mult
        optimizer = torch.optim.Adam(params, lr=lr, betas=spec.betas or base.betas,
                                     weight_decay=base.weight_decay if spec.weight_decay is None else spec.weight_decay)
        for group in optimizer.param_groups:
            group["initial_lr"] = lr
        return optimizer

    # -- one iteration -------------------------------------------------------------------------
    def train_step(self, batch: dict, iteration: int) -> Step:
        self._apply_schedule(iteration)
        step = Step(batch, self.nets, self.recipe.products, self.recipe.state, index=iteration)
        for phase in self.recipe.phases:
            if phase.runs_at(iteration):
                if phase.fresh:
                    step.forget()
                self._run_phase(phase, step, iteration)
        self._count += 1
        return step

    def _apply_schedule(self, iteration: int) -> None:
        """The learning rate is a pure function of the step, so resuming needs no scheduler state."""
        factor = self.recipe.schedule.factor(iteration, self.total_steps)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def _run_phase(self, phase, step: Step, iteration: int) -> None:
        frozen = [p for name in phase.frozen for p in self.nets[name].parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            groups: dict[tuple, list] = {}
            for instance, plugin in self.plugins.items():
                for role in plugin.roles:
                    if plugin.phase_of(role) != phase.name:
                        continue
                    term = plugin.loss(step, role)
                    key = instance if role == "G" else f"{instance}/{role}"
                    self._record(key, term.detach(), iteration)
                    groups.setdefault(tuple(plugin.detach_from), []).append(plugin.weight * term)
            stepped = [name for name in phase.optimizers if name in self.optimizers]
            optimizers = [self.optimizers[name] for name in stepped]
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            ordered = sorted(groups.items(), key=lambda kv: len(kv[0]))
            for n, (detach_from, terms) in enumerate(ordered):
                self._backward(torch.stack(terms).sum(), detach_from, retain=n < len(ordered) - 1)
            for name in stepped:
                clip = self.recipe.optimizers[name].clip
                if clip is not None:
                    params = [p for group in self.optimizers[name].param_groups for p in group["params"]]
                    torch.nn.utils.clip_grad_norm_(params, clip)
            for opt in optimizers:
                opt.step()
        finally:
            for p in frozen:
                p.requires_grad_(True)

    def _backward(self, total: torch.Tensor, detach_from: tuple, retain: bool) -> None:
        if not total.requires_grad:
            return
        held = [p for name in detach_from for p in self.nets[name].parameters() if p.requires_grad]
        for p in held:  # the graph already flows through them; only accumulation is skipped
            p.requires_grad_(False)
        try:
            total.backward(retain_graph=retain)
        finally:
            for p in held:
                p.requires_grad_(True)

    def _record(self, key: str, value: torch.Tensor, iteration: int) -> None:
        value = value.float()
        if key not in self._sums:
            self._sums[key] = torch.zeros((), device=value.device)
            self._first_bad[key] = torch.full((), -1, dtype=torch.long, device=value.device)
        self._sums[key] += value
        bad = ~torch.isfinite(value) & (self._first_bad[key] < 0)
        self._first_bad[key] = torch.where(bad, torch.full_like(self._first_bad[key], iteration + 1), self._first_bad[key])

    def _check_finite(self) -> None:
        if not self._first_bad:
            return
        steps = torch.stack(list(self._first_bad.values())).tolist()  # one sync for every term
        bad = [(step, n, key) for n, (key, step) in enumerate(zip(self._first_bad, steps)) if step >= 0]
        if bad:
            step, _, key = min(bad)  # the earliest step; within it, the first term computed
            raise NonFiniteLoss(key, step, self.last_checkpoint)

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> str:
        from tqdm import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        self.write_config()
        hook = registry.hook()
        hook.i2i_train_start(trainer=self)
        workers = self.options.workers
        if workers is None:
            workers = 0 if self.options.data.startswith("demo") else min(4, os.cpu_count() or 1)
        sampler = StepBatches(len(self.dataset), self.recipe.data.batch_size, self.options.seed, self.step, self.total_steps)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=False)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        status = "done"
        try:
            bar = tqdm(total=self.total_steps, initial=self.step, desc=f"{self.recipe.name}", unit="step",
                       dynamic_ncols=True, disable=None)
            with bar:
                for batch in loader:
                    iteration = self.step
                    batch = {k: t.to(self.device, non_blocking=True) for k, t in batch.items()}
                    self.train_step(batch, iteration)
                    self.step = iteration + 1
                    last = self.step == self.total_steps
                    row = None
                    if self.step == 1 or self.step % self.options.log_every == 0 or last:
                        row = self._log()
                        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k not in ("step", "world_size")},
                                        refresh=False)
                    if self.step % self.options.save_every == 0 or last:
                        self.save()
                    if self.step % self.options.sample_every == 0 or last:
                        self.write_samples()
                    bar.update(1)
                    hook.i2i_step_end(trainer=self, step=self.step, logged=row)
                    if self._stop_signal is not None and not last:
                        path = self.save()
                        status = "interrupted"
                        raise Interrupted(self._stop_signal, path)
        except NonFiniteLoss:
            status = "nonfinite"
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            hook.i2i_train_end(trainer=self, status=status)
        return status

    def _on_signal(self, signum, frame):
        if self._stop_signal is not None:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self._stop_signal = signum

    def _log(self) -> dict:
        self._check_finite()
        row = {"step": self.step, "world_size": 1}
        count = max(1, self._count)
        values = torch.stack(list(self._sums.values())).cpu().tolist() if self._sums else []
        for key, total in zip(self._sums, values):
            row[key] = total / count
            self._sums[key].zero_()
        self._count = 0
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        return row

    # -- files ---------------------------------------------------------------------------------
    def config(self) -> dict:
        o = self.options
        return {
            "i2i_version": __version__,
            "recipe": self.recipe.name,
            "build": attrs.asdict(self.build),
            "train": {"data": o.data, "steps": self.total_steps, "seed": o.seed, "direction": o.direction,
                      "device": str(self.device), "log_every": o.log_every, "save_every": o.save_every,
                      "sample_every": o.sample_every, "keep": o.keep, "steps_per_epoch": self.steps_per_epoch},
            "adds": self.adds,
            "settings": self.recipe.resolved(),
        }

    def write_config(self) -> None:
        tmp = self.out / ".config.json.tmp"
        tmp.write_text(json.dumps(self.config(), indent=2) + "\n")
        os.replace(tmp, self.out / "config.json")

    def state_dict(self) -> dict:
        return {
            "format": ckpt.FORMAT,
            "i2i_version": __version__,
            "step": self.step,
            "total_steps": self.total_steps,
            "config": json.dumps(self.config()),
            "nets": {name: net.state_dict() for name, net in self.nets.items()},
            "plugins": {inst: {k: m.state_dict() for k, m in p.modules().items()} for inst, p in self.plugins.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "state": {name: obj.state_dict() for name, obj in self.recipe.state.items()},
            "rng": rng_state(),
            "logs": {"sums": {k: v.cpu() for k, v in self._sums.items()}, "count": self._count},
        }

    def save(self) -> Path:
        self._check_finite()
        folder = self.out / "checkpoints"
        path = folder / "latest.pt"
        state = self.state_dict()
        ckpt.save_atomic(state, path)
        if self.options.keep > 0:
            ckpt.save_atomic(state, folder / f"step_{self.step:07d}.pt")
            numbered = sorted(folder.glob("step_*.pt"))
            for old in numbered[:-self.options.keep]:
                old.unlink(missing_ok=True)
        self.last_checkpoint = path
        registry.hook().i2i_checkpoint_saved(trainer=self, path=path)
        return path

    def load(self, path: Path) -> None:
        state = ckpt.load(path)
        for name, net in self.nets.items():
            net.load_state_dict(state["nets"][name])
        for inst, plugin in self.plugins.items():
            for key, module in plugin.modules().items():
                module.load_state_dict(state["plugins"][inst][key])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, obj in self.recipe.state.items():
            obj.load_state_dict(state["state"][name], device=self.device)
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        self._sums = {k: v.to(self.device) for k, v in state["logs"]["sums"].items()}
        self._first_bad = {k: torch.full((), -1, dtype=torch.long, device=self.device) for k in self._sums}
        self._count = int(state["logs"]["count"])
        self.last_checkpoint = path
        if self.step >= self.total_steps:
            raise ConfigError(f"{path} is already at step {self.step}; pass --steps larger than that to continue")
        registry.hook().i2i_checkpoint_loaded(trainer=self, path=path)

    @torch.no_grad()
    def write_samples(self) -> Path:
        from .visual import sample_grid

        path = self.out / "samples" / f"step_{self.step:07d}.png"
        sample_grid(self.recipe, self.nets, self.sample_dataset, self.options.samples, self.device, path)
        return path


def _sample_source(options, recipe, build, train_dataset):
    from .data import open_dataset
    from .errors import I2IError

    try:
        return open_dataset(options.data, paired=recipe.data.paired, phase="test", image_size=build.image_size,
                            channels=build.in_channels, channels_B=build.out_channels, direction=options.direction,
                            load_size=build.image_size,
                            preprocess_mode=recipe.data.preprocess, flip=False)
    except I2IError:
        return train_dataset


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
