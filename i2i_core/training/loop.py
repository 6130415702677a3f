"""The one training loop: phases of summed plugin terms, logging, samples, signals.

Per iteration: build a :class:`~i2i_core.step.Step` on the batch, then for each phase of the
recipe (in order, when it runs at this iteration) sum ``weight × term`` of every plugin role that
joins it, back-propagate, clip and step its optimisers. Losses stay on the device; they are read
only at log intervals, where a device-side flag also catches non-finite terms.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import attrs
import torch
from torch.utils.data import DataLoader

from .. import __version__
from .. import distributed
from .. import plugins as registry
from ..checkpoint import remove_temporaries
from ..errors import ConfigError, I2IError, Interrupted, NonFiniteLoss, PluginError, message
from ..loss import LossPlugin, summed
from ..recipe import BuildOptions, Recipe
from ..runconfig import RunConfig
from ..step import Step
from . import runstate, watch
from .logbook import LogBook
from .options import TrainOptions
from .runtime import Runtime
from .sampler import StepBatches, open_training_data, sample_source


class Trainer:
    def __init__(self, recipe: Recipe, options: TrainOptions, build: BuildOptions, *,
                 adds: list | None = None, resume: bool = False, dataset=None, sample_dataset=None):
        self.recipe, self.options, self.build, self.adds = recipe, options, build, list(adds or [])
        self.world, device = distributed.init_from_env(options.device)
        self.runtime = Runtime.choose(device, options.precision, options.compile)
        self.device = self.runtime.device
        self.out = Path(options.out)
        runstate.seed_everything(options.seed)
        self.dataset = dataset if dataset is not None else open_training_data(options, recipe, build)
        self.sample_dataset = (sample_dataset if sample_dataset is not None
                               else sample_source(options, recipe, build, self.dataset))
        self.steps_per_epoch = max(1, len(self.dataset) // recipe.data.batch_size)
        if options.steps is not None:
            self.total_steps = options.steps
        elif options.epochs is None and recipe.data.steps is not None:
            self.total_steps = recipe.data.steps
        else:
            self.total_steps = (options.epochs or recipe.data.epochs) * self.steps_per_epoch
        if self.total_steps < 1:
            raise ConfigError(f"--steps must be at least 1, got {self.total_steps}")
        if options.eval_every is not None and (options.eval_every < 1 or not options.data.startswith("demo")):
            raise ConfigError(f"--eval-every needs demo data (the oracle knows the true translation only there) and "
                              f"N >= 1; got {options.eval_every} with --data {options.data}")
        self.loggers = watch.build_loggers(options.log)

        self.nets = self.runtime.place({name: spec.build(name) for name, spec in recipe.nets.items()})
        for k, (name, pool) in enumerate(sorted(recipe.state.items())):
            pool.reset((options.seed * 7919 + k) * 7 + self.world.rank)  # pools differ per rank
        self.plugins = recipe.active_plugins()
        self._materialize(self.batch_for(0))
        self.modules = dict(self.nets)
        for instance, plugin in self.plugins.items():
            for key, module in plugin.modules().items():
                self.modules[f"{instance}.{key}"] = module.to(self.device)
        # A plugin switched off (weight 0) takes the optimiser it added for its own modules with it.
        owners = set(self.nets) | set(self.plugins)
        self.optimizers = {name: self._make_optimizer([m for m in spec.modules if m in owners], spec)
                           for name, spec in recipe.optimizers.items() if any(m in owners for m in spec.modules)}
        self.runtime.compile(self.nets)
        self.sync = distributed.PhaseSync(self.modules, self.device, self.world)
        if self.world.rank > 0:  # latent codes and noise differ per rank; the weights came from rank 0's seed
            runstate.seed_everything(options.seed * 1_000_003 + self.world.rank)
        self.step = 0
        self.logbook = LogBook(self.out, self.world)
        self.stop_signal: int | None = None
        self.last_checkpoint: Path | None = None
        self._scored: tuple[int, dict] | None = None  # (step, oracle scores of the networks at that step)
        if resume:
            runstate.load(self, self.out / "checkpoints" / "latest.pt")

    # -- setup ---------------------------------------------------------------------------------
    def batch_for(self, step: int) -> dict:
        """The batch that step ``step`` trains on, on the device."""
        sampler = self._sampler(step, step + 1)
        items = [self.dataset[key] for key in next(iter(sampler))]
        return self.runtime.batch(torch.utils.data.default_collate(items))

    def _sampler(self, start: int, stop: int) -> StepBatches:
        return StepBatches(len(self.dataset), self.recipe.data.batch_size, self.options.seed, start, stop,
                           rank=self.world.rank, world=self.world.size)

    def _materialize(self, batch: dict) -> None:
        if all(type(p).materialize is LossPlugin.materialize for p in self.plugins.values()):
            return
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            step = Step(batch, self.nets, self.recipe.products, self.recipe.state, training=True,
                        translators=self.recipe.translator)
            for plugin in self.plugins.values():
                plugin.materialize(step)

    def _owner_params(self, name: str) -> list:
        if name in self.nets:
            return list(self.nets[name].parameters())
        return [p for module in self.plugins[name].modules().values() for p in module.parameters()]

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
                                          for key in plugin.input_gradients(iteration)),
                    translators=self.recipe.translator)
        for phase in self.recipe.phases:
            if phase.runs_at(iteration):
                step.new_phase()
                if phase.fresh:
                    step.forget()
                self.run_phase(phase, step, iteration)
        return step

    def _apply_schedule(self, iteration: int) -> None:
        """The learning rate is a pure function of the step, so resuming needs no scheduler state."""
        factor = self.recipe.schedule.factor(iteration, self.total_steps)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def run_phase(self, phase, step: Step, iteration: int) -> None:
        """One backward pass of ``phase``'s weighted terms, then clip and step its optimisers."""
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
        with self.runtime.autocasting():
            for instance, plugin in self.plugins.items():
                for role in plugin.roles:
                    if plugin.phase_of(role) != phase.name:
                        continue
                    term = self._term(instance, plugin, step, role, iteration)
                    key = instance if role == "G" else f"{instance}/{role}"
                    self.logbook.record(key, term.detach(), iteration)
                    groups.setdefault(tuple(plugin.detach_from), []).append(plugin.weight * term)
        return combine_terms(groups, params, self.nets)

    @staticmethod
    def _term(instance: str, plugin, step: Step, role: str, iteration: int) -> torch.Tensor:
        """``plugin.loss`` as a float; a plugin that raises (a third-party one calling a network
        wrongly) is named with its role and step in one line instead of a traceback."""
        try:
            return plugin.loss(step, role).float()
        except (I2IError, NonFiniteLoss, Interrupted, torch.cuda.OutOfMemoryError):
            raise
        except Exception as exc:
            raise PluginError(f"plugin {instance!r} ({plugin.name}) failed in its {role} term at step {iteration + 1}: "
                              f"{type(exc).__name__}: {message(exc)}") from exc

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> str:
        """Train to ``total_steps``; the run folder is locked meanwhile (a second process writing
        it is refused; the lock goes with the process, however it ends)."""
        self.out.mkdir(parents=True, exist_ok=True)
        lock = runstate.hold_run_folder(self.out) if self.world.main else None
        try:
            with watch.attached(self.loggers if self.world.main else []):
                return self._fit()
        finally:
            if lock is not None:
                lock.close()

    def _fit(self) -> str:
        if self.world.main:  # the lock is held: a temporary here is an interrupted save's
            for folder in (self.out, self.out / "checkpoints"):
                remove_temporaries(folder)
        self.write_config()
        if self.world.main:
            self.logbook.drop_rows_after(self.step)
        hook = registry.hook()
        hook.i2i_train_start(trainer=self)
        workers = self.options.workers
        if workers is None:
            workers = 0 if self.options.data.startswith("demo") else min(4, os.cpu_count() or 1)
        # The loader's own generator: starting an iterator must not draw from the global stream, or
        # a resumed run would be one draw behind a run never stopped.
        loader = DataLoader(self.dataset, batch_sampler=self._sampler(self.step, self.total_steps), num_workers=workers,
                            generator=torch.Generator(), pin_memory=self.device.type == "cuda",
                            persistent_workers=False)
        previous = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        status = "done"
        try:
            with watch.progress(self) as bar:
                for batch in loader:
                    iteration = self.step
                    self.train_step(self.runtime.batch(batch), iteration)
                    self.step = iteration + 1
                    last = self.step == self.total_steps
                    row = None
                    evaluate = bool(self.options.eval_every) and self.step % self.options.eval_every == 0
                    if self.step == 1 or self.step % self.options.log_every == 0 or last or evaluate:
                        self.logbook.check_finite(self.last_checkpoint)  # before a NaN reaches a row or a score
                        row = self.logbook.write_row(self.step, self._oracle_row() if evaluate else None)
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
                        raise Interrupted(self.stop_signal, path)
        except NonFiniteLoss:
            status = "nonfinite"
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            hook.i2i_train_end(trainer=self, status=status)
            if self.world.main:
                self.logbook.plot()
        return status

    def request_stop(self, signum: int = signal.SIGINT, frame=None) -> None:
        """Stop at the end of the current step, after saving a checkpoint (the SIGINT/SIGTERM
        handler during :meth:`fit`); a second request gives up at once."""
        if self.stop_signal is not None:
            raise KeyboardInterrupt
        self.stop_signal = signum

    def _should_stop(self, logged: bool) -> bool:
        """Under DDP every rank must agree to stop, so the ranks compare their flags at log
        intervals only (a collective is a synchronisation)."""
        if not self.world.enabled:
            return self.stop_signal is not None
        if not logged:
            return False
        flag = torch.tensor([self.stop_signal or 0], device=self.device)
        signum = int(distributed.all_reduce_(flag, self.world, torch.distributed.ReduceOp.MAX).item())
        if signum:
            self.stop_signal = signum
        return bool(signum)

    # -- what a run leaves behind --------------------------------------------------------------
    def oracle_scores(self) -> dict:
        """Oracle scores of the current networks on the demo test split."""
        from ..demo import demo_name
        from ..oracle import score_demo

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

    def config(self) -> RunConfig:
        o = self.options
        return RunConfig(
            i2i_version=__version__, recipe=self.recipe.name, build=self.build, adds=self.adds,
            train={"data": o.data, "steps": self.total_steps, "seed": o.seed, "direction": o.direction,
                   "device": str(self.device), "world_size": self.world.size, "precision": o.precision,
                   "compile": o.compile, "log_every": o.log_every, "save_every": o.save_every,
                   "sample_every": o.sample_every, "keep": o.keep, "steps_per_epoch": self.steps_per_epoch,
                   "eval_every": o.eval_every},
            settings=self.recipe.resolved())

    def write_config(self) -> None:
        if self.world.main:
            self.config().save(self.out)

    def save(self) -> Path:
        return runstate.save(self)

    @torch.no_grad()
    def write_samples(self) -> Path:
        from ..visual import sample_grid

        path = self.out / "samples" / f"step_{self.step:07d}.png"
        sample_grid(self.recipe, self.nets, self.sample_dataset, self.options.samples, self.device, path)
        registry.hook().i2i_samples_saved(trainer=self, step=self.step, path=path)
        return path


def combine_terms(groups: dict, params: list, nets: dict):
    """One loss whose gradient is the phase's, from ``{detach_from: [weighted terms]}``: terms that
    must not train some networks enter through ``Σ p·g`` with g = ∂term/∂p computed for every
    other stepped parameter ``p``.

    A single backward per phase keeps DDP's one-reduction-per-backward contract, and the
    networks in ``detach_from`` still pass the gradient through to the ones before them.
    """
    total = summed(groups[()]) if () in groups else None
    for detach_from, terms in groups.items():
        if not detach_from:
            continue
        held = {id(p) for name in detach_from for p in nets[name].parameters()}
        trained = [p for p in params if id(p) not in held and p.requires_grad]
        term = summed(terms)
        if not trained or not term.requires_grad:
            continue
        grads = torch.autograd.grad(term, trained, retain_graph=True, allow_unused=True)
        surrogate = torch.stack([(p * g).sum() for p, g in zip(trained, grads) if g is not None]).sum()
        total = surrogate if total is None else total + surrogate
    return total
