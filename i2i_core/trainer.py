"""The one training loop: phases of summed plugin terms, exact resume, logging, samples.

Per iteration: build a :class:`~i2i_core.step.Step` on the batch, then for each phase of the
recipe (in order, when it runs at this iteration) sum ``weight × term`` of every plugin role that
joins it, back-propagate, clip and step its optimisers. Losses stay on the device; they are read
only at log intervals, where a device-side flag also catches non-finite terms.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path

import attrs
import numpy as np
import torch
from torch.utils.data import DataLoader

from . import __version__
from . import checkpoint as ckpt
from . import distributed
from . import plugins as registry
from .errors import ConfigError, I2IError
from .loss import LossPlugin, summed
from .recipe import BuildOptions, Recipe
from .step import Step

NEVER = torch.iinfo(torch.long).max  # first bad step of a term that never went non-finite


def _kept(checkpoint: Path | None) -> str:
    return f"; last good checkpoint kept at {checkpoint}" if checkpoint else "; no checkpoint was written before it"


class NonFiniteLoss(RuntimeError):
    def __init__(self, key: str, step: int, checkpoint: Path | None):
        super().__init__(f"non-finite loss from plugin term {key!r} at step {step}{_kept(checkpoint)}")
        self.key, self.step = key, step


class NonFiniteWeights(NonFiniteLoss):
    """Finite losses can still give NaN or infinite gradients; the weights are checked before each save."""

    def __init__(self, modules: list, step: int, checkpoint: Path | None):
        RuntimeError.__init__(self, f"non-finite weights in {', '.join(modules)} at step {step} (a NaN or "
                                    f"infinite gradient from finite losses){_kept(checkpoint)}")
        self.key, self.step = modules[0], step


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
    eval_every: int | None = None  # demo data: score the oracle every N steps into metrics.jsonl
    precision: str = attrs.field(default="auto", validator=attrs.validators.in_(["auto", "bf16", "fp32"]))
    compile: str = attrs.field(default="auto", validator=attrs.validators.in_(["auto", "on", "off"]))


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

    def __init__(self, length: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1):
        """``batch_size`` is per process: the step's global batch of ``batch_size × world`` items is
        drawn as for one process, and each rank takes its own slice (a distributed sampler)."""
        self.length, self.batch_size, self.seed = length, batch_size * world, seed
        self.start, self.stop = start, stop
        self.per_epoch = max(1, length // self.batch_size)
        self.rank_slice = slice(rank * batch_size, (rank + 1) * batch_size)

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
            yield self.keys_for(step)[self.rank_slice]


class Trainer:
    def __init__(self, recipe: Recipe, options: TrainOptions, build: BuildOptions, *,
                 adds: list | None = None, resume: bool = False, dataset=None, sample_dataset=None):
        from .data import open_dataset

        self.recipe, self.options, self.build, self.adds = recipe, options, build, list(adds or [])
        self.world, device = distributed.init_from_env(options.device)
        self.device = default_device(device)
        cuda = self.device.type == "cuda"
        self.autocast = options.precision == "bf16" or (options.precision == "auto" and cuda)
        self.channels_last = cuda
        self.compiled = options.compile == "on" or (options.compile == "auto" and cuda)
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
        if options.eval_every is not None and (options.eval_every < 1 or not options.data.startswith("demo")):
            raise ConfigError(f"--eval-every needs demo data (the oracle knows the true translation only there) and "
                              f"N >= 1; got {options.eval_every} with --data {options.data}")

        self.nets = {name: spec.build().to(self.device) for name, spec in recipe.nets.items()}
        if self.channels_last:
            for net in self.nets.values():
                net.to(memory_format=torch.channels_last)
        for k, (name, pool) in enumerate(sorted(recipe.state.items())):
            pool.reset((options.seed * 7919 + k) * 7 + self.world.rank)  # pools differ per rank
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
        if self.compiled:
            _compile(self.nets)
        self.sync = distributed.PhaseSync(self.modules, self.device, self.world)
        if self.world.rank > 0:  # latent codes and noise differ per rank; the weights came from rank 0's seed
            seed_everything(options.seed * 1_000_003 + self.world.rank)
        self.step = 0
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}  # per term: a phase with every=k records one step in k
        self._first_bad: dict[str, torch.Tensor] = {}
        self._stop_signal: int | None = None
        self.last_checkpoint: Path | None = None
        self._scored: tuple[int, dict] | None = None  # (step, oracle scores of the networks at that step)
        if resume:
            self.load(self.out / "checkpoints" / "latest.pt")

    # -- setup ---------------------------------------------------------------------------------
    def _batch_for(self, step: int) -> dict:
        sampler = self._sampler(step, step + 1)
        items = [self.dataset[key] for key in next(iter(sampler))]
        return self._to_device(torch.utils.data.default_collate(items))

    def _sampler(self, start: int, stop: int) -> StepBatches:
        return StepBatches(len(self.dataset), self.recipe.data.batch_size, self.options.seed, start, stop,
                           rank=self.world.rank, world=self.world.size)

    def _to_device(self, batch: dict) -> dict:
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        return {k: t.to(self.device, non_blocking=True, memory_format=fmt) if t.dim() == 4
                else t.to(self.device, non_blocking=True) for k, t in batch.items()}

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
        optimizer = torch.optim.Adam(params, lr=lr, betas=spec.betas or base.betas, fused=self.device.type == "cuda",
                                     weight_decay=base.weight_decay if spec.weight_decay is None else spec.weight_decay)
        for group in optimizer.param_groups:
            group["initial_lr"] = lr
        return optimizer

    # -- one iteration -------------------------------------------------------------------------
    def train_step(self, batch: dict, iteration: int) -> Step:
        self._apply_schedule(iteration)
        step = Step(batch, self.nets, self.recipe.products, self.recipe.state, index=iteration,
                    input_grads=frozenset(key for plugin in self.plugins.values()
                                          for key in plugin.input_gradients(iteration)))
        for phase in self.recipe.phases:
            if phase.runs_at(iteration):
                step.new_phase()
                if phase.fresh:
                    step.forget()
                self._run_phase(phase, step, iteration)
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
            stepped = [name for name in phase.optimizers if name in self.optimizers]
            optimizers = [self.optimizers[name] for name in stepped]
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            params = [p for opt in optimizers for group in opt.param_groups for p in group["params"]]
            total = self.sync(lambda: self._phase_loss(phase, step, iteration, params))
            if total is not None and total.requires_grad:
                total.backward()
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

    def _phase_loss(self, phase, step: Step, iteration: int, params: list):
        """The weighted sum of every term that joins ``phase`` (None when there is none)."""
        groups: dict[tuple, list] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            for instance, plugin in self.plugins.items():
                for role in plugin.roles:
                    if plugin.phase_of(role) != phase.name:
                        continue
                    term = plugin.loss(step, role).float()
                    key = instance if role == "G" else f"{instance}/{role}"
                    self._record(key, term.detach(), iteration)
                    groups.setdefault(tuple(plugin.detach_from), []).append(plugin.weight * term)
        return self._with_detached_terms(groups, params)

    def _with_detached_terms(self, groups: dict, params: list):
        """One loss whose gradient is the phase's: terms that must not train some networks enter
        through ``Σ p·g`` with g = ∂term/∂p computed for every other stepped parameter ``p``.

        A single backward per phase keeps DDP's one-reduction-per-backward contract, and the
        networks in ``detach_from`` still pass the gradient through to the ones before them.
        """
        total = summed(groups[()]) if () in groups else None
        for detach_from, terms in groups.items():
            if not detach_from:
                continue
            held = {id(p) for name in detach_from for p in self.nets[name].parameters()}
            trained = [p for p in params if id(p) not in held and p.requires_grad]
            term = summed(terms)
            if not trained or not term.requires_grad:
                continue
            grads = torch.autograd.grad(term, trained, retain_graph=True, allow_unused=True)
            surrogate = torch.stack([(p * g).sum() for p, g in zip(trained, grads) if g is not None]).sum()
            total = surrogate if total is None else total + surrogate
        return total

    def _record(self, key: str, value: torch.Tensor, iteration: int) -> None:
        value = value.float()
        if key not in self._sums:
            self._sums[key] = torch.zeros((), device=value.device)
            self._first_bad[key] = torch.full((), NEVER, dtype=torch.long, device=value.device)
        self._sums[key] += value
        self._counts[key] = self._counts.get(key, 0) + 1
        # value - value is 0 when the value is finite and NaN otherwise: cheaper than isfinite, every step
        bad_at = torch.where((value - value).ne(0), iteration + 1, NEVER)
        torch.minimum(self._first_bad[key], bad_at, out=self._first_bad[key])

    def _check_finite(self) -> None:
        if not self._first_bad:
            return
        firsts = distributed.all_reduce_(torch.stack(list(self._first_bad.values())), self.world, dist_min())
        steps = [-1 if v == NEVER else v for v in firsts.tolist()]  # one sync for every term
        bad = [(step, n, key) for n, (key, step) in enumerate(zip(self._first_bad, steps)) if step >= 0]
        if bad:
            step, _, key = min(bad)  # the earliest step; within it, the first term computed
            raise NonFiniteLoss(key, step, self.last_checkpoint)

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> str:
        from tqdm import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        self.write_config()
        if self.world.main:
            self._drop_rows_after_start()
        hook = registry.hook()
        hook.i2i_train_start(trainer=self)
        workers = self.options.workers
        if workers is None:
            workers = 0 if self.options.data.startswith("demo") else min(4, os.cpu_count() or 1)
        # The loader's own generator: starting an iterator must not draw from the global stream, or
        # a resumed run would be one draw behind a run never stopped.
        loader = DataLoader(self.dataset, batch_sampler=self._sampler(self.step, self.total_steps), num_workers=workers,
                            generator=torch.Generator(),
                            pin_memory=self.device.type == "cuda", persistent_workers=False)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        status = "done"
        try:
            bar = tqdm(total=self.total_steps, initial=self.step, desc=f"{self.recipe.name}", unit="step",
                       dynamic_ncols=True, disable=None if self.world.main else True)
            with bar:
                for batch in loader:
                    iteration = self.step
                    self.train_step(self._to_device(batch), iteration)
                    self.step = iteration + 1
                    last = self.step == self.total_steps
                    row = None
                    evaluate = bool(self.options.eval_every) and self.step % self.options.eval_every == 0
                    if self.step == 1 or self.step % self.options.log_every == 0 or last or evaluate:
                        row = self._log(self._oracle_row() if evaluate else None)
                        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k not in ("step", "world_size")},
                                        refresh=False)
                    if self.step % self.options.save_every == 0 or last:
                        self.save()
                    if (self.step % self.options.sample_every == 0 or last) and self.world.main:
                        self.write_samples()
                    bar.update(1)
                    hook.i2i_step_end(trainer=self, step=self.step, logged=row)
                    if self._should_stop(row is not None) and not last:
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
            if self.world.main:
                self._plot()
        return status

    def oracle_scores(self) -> dict:
        """Oracle scores of the current networks on the demo test split (evaluation spec §5)."""
        from .demo import demo_name
        from .oracle import score_demo

        if self._scored is not None and self._scored[0] == self.step:  # --eval-every scored this very step
            return self._scored[1]
        translator = self.recipe.translator("AtoB")  # the data were swapped for --direction BtoA
        scores = score_demo(translator, {name: self.nets[name] for name in translator.nets},
                            name=demo_name(self.options.data), res=self.build.image_size,
                            direction=self.options.direction, device=self.device)
        self._scored = (self.step, scores)
        return scores

    def _oracle_row(self) -> dict:
        scores = self.oracle_scores()
        return {"miou": scores["miou"], "oracle_mae": scores["oracle_mae"]}

    def _plot(self) -> None:
        from .plot import plot_run

        try:
            plot_run(self.out)
        except Exception as exc:  # a plot must never hide how the run itself ended
            print(f"i2i: could not draw {self.out / 'plots' / 'losses.png'}: {exc}", file=sys.stderr)

    def _should_stop(self, logged: bool) -> bool:
        """A signal stops the run at the end of a step; under DDP every rank must agree, so the
        ranks compare their flags at log intervals only (a collective is a synchronisation)."""
        if not self.world.enabled:
            return self._stop_signal is not None
        if not logged:
            return False
        flag = torch.tensor([self._stop_signal or 0], device=self.device)
        signum = int(distributed.all_reduce_(flag, self.world, dist_max()).item())
        if signum:
            self._stop_signal = signum
        return bool(signum)

    def _on_signal(self, signum, frame):
        if self._stop_signal is not None:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self._stop_signal = signum

    def _log(self, scores: dict | None = None) -> dict:
        self._check_finite()
        row = {"step": self.step, "world_size": self.world.size}
        values = []
        if self._sums:  # every rank computes every term, so the sums line up across ranks
            values = distributed.all_reduce_(torch.stack(list(self._sums.values())), self.world).cpu().tolist()
        for key, total in zip(self._sums, values):
            row[key] = total / (max(1, self._counts.get(key, 0)) * self.world.size)
            self._sums[key].zero_()
        row.update(scores or {})
        self._counts = {}
        if self.world.main:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
        return row

    # -- files ---------------------------------------------------------------------------------
    def _drop_rows_after_start(self) -> None:
        """metrics.jsonl keeps only the rows up to the step this run starts from. Later rows (and a
        half-written last line) come from a run killed before its next checkpoint; the resumed run
        logs those steps again, so keeping them would give every such step two rows."""
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines(keepends=True)
        torn = bool(lines) and _row_step(lines[-1]) is None  # a line the kill cut short; other lines stay
        kept = [line for line in lines[:-1 if torn else None] if (_row_step(line) or 0) <= self.step]
        if kept != lines or (kept and not kept[-1].endswith("\n")):
            text = "".join(line if line.endswith("\n") else line + "\n" for line in kept)
            ckpt.write_atomic(path, lambda f: f.write(text.encode()))

    def config(self) -> dict:
        o = self.options
        return {
            "i2i_version": __version__,
            "recipe": self.recipe.name,
            "build": attrs.asdict(self.build),
            "train": {"data": o.data, "steps": self.total_steps, "seed": o.seed, "direction": o.direction,
                      "device": str(self.device), "world_size": self.world.size, "precision": o.precision,
                      "compile": o.compile, "log_every": o.log_every, "save_every": o.save_every,
                      "sample_every": o.sample_every, "keep": o.keep, "steps_per_epoch": self.steps_per_epoch,
                      "eval_every": o.eval_every},
            "adds": self.adds,
            "settings": self.recipe.resolved(),
        }

    def write_config(self) -> None:
        if not self.world.main:
            return
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
            "world_size": self.world.size,
            # What differs between processes, one entry per rank: random streams, pools, partial sums.
            "ranks": distributed.all_gather(self._rank_state(), self.world),
        }

    def _rank_state(self) -> dict:
        return {"rng": rng_state(),
                "state": {name: obj.state_dict() for name, obj in self.recipe.state.items()},
                "logs": {"sums": {k: v.cpu() for k, v in self._sums.items()}, "counts": dict(self._counts)}}

    def save(self) -> Path:
        self._check_finite()
        sums = distributed.weight_sums(self.modules, self.device)
        broken = [name for name, ok in zip(self.modules, torch.isfinite(sums).tolist()) if not ok]
        if broken:
            raise NonFiniteWeights(broken, self.step, self.last_checkpoint)
        drifted = distributed.diverged(sums, list(self.modules), self.world)
        if drifted:
            raise I2IError(f"the processes hold different weights for {', '.join(drifted)} at step {self.step} "
                           f"(replicas must stay equal: a module updated outside DistributedDataParallel, or "
                           f"updates that differ between processes); no checkpoint written")
        folder = self.out / "checkpoints"
        path = folder / "latest.pt"
        state = self.state_dict()
        if not self.world.main:
            return path
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
        saved_world = int(state.get("world_size", 1))
        if saved_world != self.world.size:
            raise ConfigError(f"{path} was written by {saved_world} process(es); resume it with the same number, "
                              f"not {self.world.size}")
        mine = state["ranks"][self.world.rank]
        for name, obj in self.recipe.state.items():
            obj.load_state_dict(mine["state"][name], device=self.device)
        set_rng_state(mine["rng"])
        self.step = int(state["step"])
        self._sums = {k: v.to(self.device) for k, v in mine["logs"]["sums"].items()}
        self._first_bad = {k: torch.full((), NEVER, dtype=torch.long, device=self.device) for k in self._sums}
        self._counts = {k: int(v) for k, v in mine["logs"]["counts"].items()}
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


def dist_min():
    return torch.distributed.ReduceOp.MIN


def dist_max():
    return torch.distributed.ReduceOp.MAX


_COMPILE_WARNED = False


def _compile(nets: dict) -> None:
    """``torch.compile`` each network's forward; a network dynamo cannot compile runs eagerly
    (``suppress_errors``) after one warning, so a compile failure never stops training."""
    import warnings

    import torch._dynamo

    global _COMPILE_WARNED
    torch._dynamo.config.suppress_errors = True
    for name, net in nets.items():
        try:
            net.compile()
        except Exception as exc:  # an old torch or a platform without a compiler backend
            if not _COMPILE_WARNED:
                warnings.warn(f"torch.compile unavailable ({exc}); training {name} and the rest eagerly")
                _COMPILE_WARNED = True
            return


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


def _row_step(line: str) -> int | None:
    """The step of a metrics.jsonl line, or None when the line is not a whole row with a step."""
    try:
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) else None


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
