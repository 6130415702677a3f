"""The core expresses every mechanism the specs need, with no special case: shared latent codes,
frozen-encoder terms, clipping, lazily created plugin modules with their own optimiser, and k
discriminator updates per generator update."""
import attrs
import pytest
import torch

from i2i_core import plugins as registry
from i2i_core.loss import LossPlugin
from i2i_core.recipe import BuildOptions, DataSpec, NetSpec, OptimizerSpec, Phase, Recipe, Schedule
from i2i_core.training import Trainer, TrainOptions, combine_terms
from i2i_plugins.adversarial import Adversarial
from i2i_plugins.paired_l1 import PairedL1


class CodeGenerator(torch.nn.Module):
    """G(x, z): a conv on the image plus the code broadcast over space."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3 + 2, 3, 3, padding=1)

    def forward(self, x, z):
        return torch.tanh(self.conv(torch.cat([x, z[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)))


class CodeEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


@attrs.define(kw_only=True, eq=False)
class LatentL1(LossPlugin):
    """Recover the code: ‖E(G(x, z)) − z‖₁ (the shape of BicycleGAN's latent regression)."""

    name = "test_latent_l1"

    def reads(self):
        return ("z", "z_recovered")

    def loss(self, step, role):
        return (step.z_recovered - step.z).abs().mean()


@attrs.define(kw_only=True, eq=False)
class LazyHead(LossPlugin):
    """A term with a trainable head whose width is known only from the first batch."""

    name = "test_lazy_head"
    _head: torch.nn.Module | None = attrs.field(default=None, init=False)
    created: int = attrs.field(default=0, init=False)

    def reads(self):
        return ("fake_B",)

    def setup(self, recipe, instance):
        recipe.optimizers["head"] = OptimizerSpec(modules=[instance], lr_mult=2.0)
        recipe.phase("G").optimizers += ("head",)

    def materialize(self, step):
        channels = step.fake_B.shape[1]
        self._head = torch.nn.Linear(channels, 1)
        self.created += 1

    def modules(self):
        return {"head": self._head} if self._head is not None else {}

    def loss(self, step, role):
        return self._head(step.fake_B.mean((2, 3))).pow(2).mean()


def make_recipe():
    registry.networks()  # the built-in kinds; the test networks below are registered by hand
    r = Recipe(
        name="mechanisms",
        nets={"G": NetSpec(kind="test_code_generator"), "E": NetSpec(kind="test_code_encoder"),
              "D": NetSpec(kind="patchgan", kwargs=dict(in_channels=3, ndf=4, n_layers=1))},
        products={
            "z": lambda s: torch.randn(s.batch_size(), 2),
            "fake_B": lambda s: s.G(s.real_A, s.z),
            "z_recovered": lambda s: s.E(s.fake_B),
        },
        phases=[Phase(name="D", optimizers=["D"]), Phase(name="G", optimizers=["G", "E"], frozen=["D"], every=3)],
        optimizers={"G": OptimizerSpec(modules=["G"], clip=1e-3), "E": OptimizerSpec(modules=["E"]),
                    "D": OptimizerSpec(modules=["D"])},
        schedule=Schedule(policy="constant"),
        data=DataSpec(paired=True, batch_size=2),
    )
    r.add(Adversarial(terms=[("D", "real_B", "fake_B")]))
    r.add(PairedL1(weight=1.0))
    r.add(LatentL1(weight=1.0, detach_from=["E"]))
    r.add(LazyHead(weight=0.1))
    return r.validate()


@pytest.fixture
def trainer(tmp_path, monkeypatch):
    table = dict(registry.networks(), test_code_generator=CodeGenerator, test_code_encoder=CodeEncoder)
    monkeypatch.setattr(registry, "networks", lambda: table)
    build = BuildOptions(image_size=32)
    return Trainer(make_recipe(), TrainOptions(data="demo", out=tmp_path, steps=6, sample_every=100), build)


def test_latent_code_is_sampled_once_and_shared(trainer):
    from i2i_core.step import Step

    step = Step(trainer.batch_for(0), trainer.nets, trainer.recipe.products)
    assert step.z is step.z and step.fake_B.shape == step.real_A.shape


def test_a_term_can_flow_through_a_network_without_training_it(trainer):
    from i2i_core.step import Step

    plugin = trainer.recipe.plugins["test_latent_l1"]
    step = Step(trainer.batch_for(0), trainer.nets, trainer.recipe.products)
    params = [p for name in ("G", "E") for p in trainer.nets[name].parameters()]
    combine_terms({tuple(plugin.detach_from): [plugin.loss(step, "G")]}, params, trainer.nets).backward()
    assert all(p.grad is None for p in trainer.nets["E"].parameters())  # E is frozen for this term ...
    assert all(p.grad is not None for p in trainer.nets["G"].parameters())  # ... its gradient reaches G


def test_lazy_module_joins_its_own_optimiser(trainer):
    head = trainer.recipe.plugins["test_lazy_head"]
    assert head.created == 1 and "test_lazy_head.head" in trainer.modules
    optimiser = trainer.optimizers["head"]
    assert optimiser.param_groups[0]["lr"] == pytest.approx(2 * trainer.recipe.optim.lr)
    before = [p.clone() for p in head.modules()["head"].parameters()]
    trainer.fit()
    assert head.created == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, head.modules()["head"].parameters()))
    state = torch.load(trainer.out / "checkpoints" / "latest.pt", weights_only=True)
    assert set(state["plugins"]["test_lazy_head"]["head"]) == {"weight", "bias"}


def test_discriminator_steps_three_times_per_generator_step(trainer):
    counts = {"D": 0, "G": 0, "E": 0}
    for name, opt in trainer.optimizers.items():
        if name in counts:
            opt.register_step_post_hook(lambda *_, name=name: counts.__setitem__(name, counts[name] + 1))
    trainer.fit()
    assert counts == {"D": 6, "G": 2, "E": 2}


def test_clipping_bounds_the_gradient_norm(trainer, monkeypatch):
    norms = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **k):
        params = list(params)
        original(params, max_norm, *a, **k)
        norms.append(torch.norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])).item())

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    trainer.fit()
    assert norms and max(norms) <= 1e-3 * (1 + 1e-4)


def test_a_switched_off_plugin_takes_its_optimiser_with_it(tmp_path, monkeypatch):
    table = dict(registry.networks(), test_code_generator=CodeGenerator, test_code_encoder=CodeEncoder)
    monkeypatch.setattr(registry, "networks", lambda: table)
    recipe = make_recipe()
    recipe.set("test_lazy_head.weight", 0)
    trainer = Trainer(recipe, TrainOptions(data="demo", out=tmp_path, steps=3, sample_every=100), BuildOptions(image_size=32))
    assert "head" not in trainer.optimizers
    trainer.fit()


def test_terms_of_a_sparse_phase_are_logged_at_their_own_value(trainer, monkeypatch):
    seen = []
    original = PairedL1.loss
    monkeypatch.setattr(PairedL1, "loss", lambda self, step, role: seen.append(v := original(self, step, role)) or v)
    trainer.options.log_every = 3
    trainer.fit()
    import json

    rows = [json.loads(line) for line in (trainer.out / "metrics.jsonl").read_text().splitlines()]
    by_step = {row["step"]: row for row in rows}
    assert by_step[3]["paired_l1"] == pytest.approx(seen[0].item(), rel=1e-6)  # one G step in the window, not 1/3


@attrs.define(kw_only=True, eq=False)
class JudgesRealInBothPhases(LossPlugin):
    """Reads D's judgement of the real images in the G and the D phase and keeps what it got."""

    name = "test_judges_real"
    roles = ("G", "D")
    seen: dict = attrs.field(factory=dict, init=False)

    def loss(self, step, role):
        self.seen[step.index, role] = step.judged("D", "real_B")[1]
        return self.seen[step.index, role].mean() * 0


def test_a_discriminators_judgement_is_not_reused_in_the_next_phase(tmp_path, monkeypatch):
    """D steps between the phases, so a judgement cached in the D phase is stale in the G phase."""
    table = dict(registry.networks(), test_code_generator=CodeGenerator, test_code_encoder=CodeEncoder)
    monkeypatch.setattr(registry, "networks", lambda: table)
    recipe = make_recipe()
    recipe.add(JudgesRealInBothPhases())
    trainer = Trainer(recipe.validate(), TrainOptions(data="demo", out=tmp_path, steps=1), BuildOptions(image_size=32))
    for iteration in range(3):  # G steps once in three iterations, after D
        trainer.train_step(trainer.batch_for(iteration), iteration)
    seen = trainer.recipe.plugins["test_judges_real"].seen
    both = [i for i in range(3) if (i, "G") in seen]
    assert len(both) == 1 and not torch.equal(seen[both[0], "G"], seen[both[0], "D"])
