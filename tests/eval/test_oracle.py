"""Oracle scores on the demo domains (i2i's own benchmark; README, "Evaluation"): known values,
synthetic multimodal outputs, a hand-made multimodal translator, the shared CycleGAN run, and
multimodal recipes against a collapsed control."""
import math
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import tiny_trainer
from i2i_core import oracle
from i2i_core import plugins as registry
from i2i_core.demo import PALETTE_A, PALETTE_B, STYLES
from i2i_core.recipe import BuildOptions, Translator, build_recipe
from i2i_core.training import Trainer, TrainOptions

LN2 = math.log(2)
JSD_COLLAPSED = 0.3804  # one style out of four: that histogram's JSD against uniform
JSD_TWO_STYLES = 0.2158  # two of four styles, equally often
JSD_PERFECT_P95_AT_400 = 0.0025  # 95th percentile of a perfect generator's JSD at n = 400 (simulated)


@pytest.fixture(scope="module")
def test_split():
    data = oracle.demo_test_batch("shapes", 32, 200)
    return {"a": (data["source"] + 1) / 2, "b": (data["target"] + 1) / 2, "layout": data["layout"]}


def render(layout: torch.Tensor, palette, background=None) -> torch.Tensor:
    """N×H×W classes → N×3×H×W images of ``palette`` (per-image background colours optional)."""
    colours = torch.from_numpy(np.asarray(palette, np.float32)).expand(layout.shape[0], -1, -1).clone()
    if background is not None:
        colours[:, 0] = background
    return torch.stack([colours[n][layout[n]].permute(2, 0, 1) for n in range(layout.shape[0])])


def test_identity_scores_zero_miou_and_full_purity(test_split):
    scores = oracle.unimodal_scores(test_split["a"], test_split["layout"], test_split["b"])
    assert scores["miou"] == 0.0
    assert scores["purity"] == 1.0
    assert 0.6 < scores["oracle_mae"] < 0.68  # 0.635 on these 200 test layouts


def test_true_render_scores_perfectly(test_split):
    scores = oracle.unimodal_scores(test_split["b"], test_split["layout"], test_split["b"])
    assert scores["miou"] == 1.0 and scores["oracle_mae"] == 0.0 and scores["purity"] == 1.0
    assert scores["oracle_psnr"] == pytest.approx(100.0)
    assert scores["per_class_iou"] == {"background": 1.0, "disc": 1.0, "square": 1.0, "triangle": 1.0}
    confusion = np.array(scores["confusion"])
    assert np.count_nonzero(confusion - np.diag(np.diag(confusion))) == 0


def test_blurry_mean_image_and_noise(test_split):
    layout = test_split["layout"]
    background_share = float((layout == 0).double().mean())
    mean_image = test_split["b"].mean(0, keepdim=True).expand_as(test_split["b"])
    blurry = oracle.unimodal_scores(mean_image, layout, test_split["b"])
    assert 0.2 < blurry["miou"] < 0.32 and blurry["oracle_mae"] < 0.2  # MAE rewards blur, mIoU does not
    assert blurry["purity"] == pytest.approx(background_share)
    noise = torch.rand(test_split["b"].shape, generator=torch.Generator().manual_seed(0))
    assert oracle.unimodal_scores(noise, layout, test_split["b"])["purity"] == pytest.approx(background_share, abs=0.01)


def test_swapped_colours_show_in_the_confusion_matrix_and_keep_purity(test_split):
    swapped = PALETTE_B.copy()
    swapped[[2, 3]] = swapped[[3, 2]]  # squares painted as triangles and back
    outputs = render(test_split["layout"], swapped)
    scores = oracle.unimodal_scores(outputs, test_split["layout"], test_split["b"])
    assert scores["per_class_iou"]["square"] == 0.0 and scores["per_class_iou"]["triangle"] == 0.0
    assert scores["per_class_iou"]["disc"] == 1.0 and scores["miou"] == pytest.approx(0.5)
    confusion = np.array(scores["confusion"])
    assert confusion[2, 3] == (test_split["layout"] == 2).sum() and confusion[2, 2] == 0
    assert scores["purity"] == 1.0


def test_target_palette_follows_the_direction():
    data = oracle.demo_test_batch("shapes", 32, 20, direction="BtoA")
    palette, styled = oracle.target_palette("shapes", "BtoA")
    scores = oracle.unimodal_scores((data["target"] + 1) / 2, data["layout"], (data["target"] + 1) / 2, palette)
    assert palette is PALETTE_A and not styled and scores["miou"] == 1.0


# ------------------------------------------------------------------------------------------ multimodal
def multimodal_outputs(layout, styles_of, samples=8) -> torch.Tensor:
    """N×S×3×H×W renders where sample (i, j) has the background style ``styles_of(i, j)``."""
    n = layout.shape[0]
    per_sample = []
    for j in range(samples):
        backgrounds = torch.from_numpy(STYLES)[[styles_of(i, j) for i in range(n)]]
        per_sample.append(render(layout, PALETTE_B, backgrounds))
    return torch.stack(per_sample, 1)


@pytest.fixture(scope="module")
def fifty_layouts(test_split):
    return test_split["layout"][:50]


def test_collapsed_outputs_cover_one_style(fifty_layouts):
    scores = oracle.multimodal_scores(multimodal_outputs(fifty_layouts, lambda i, j: 2), fifty_layouts)
    assert scores["valid_rate"] == 1.0 and scores["coverage"] == 0.25 and scores["per_input_coverage"] == 0.25
    assert scores["jsd"] == pytest.approx(JSD_COLLAPSED, abs=1e-4)
    assert scores["pixel_diversity"] == 0.0 and scores["miou"] == 1.0


def test_two_styles(fifty_layouts):
    scores = oracle.multimodal_scores(multimodal_outputs(fifty_layouts, lambda i, j: j % 2), fifty_layouts)
    assert scores["coverage"] == 0.5 and scores["per_input_coverage"] == 0.5
    assert scores["jsd"] == pytest.approx(JSD_TWO_STYLES, abs=1e-4)
    assert 0.05 < scores["pixel_diversity"] < 0.2


def test_perfect_outputs_cover_every_style(fifty_layouts):
    rng = np.random.default_rng(0)
    drawn = rng.integers(0, 4, size=(50, 8))
    scores = oracle.multimodal_scores(multimodal_outputs(fifty_layouts, lambda i, j: drawn[i, j]), fifty_layouts)
    assert scores["valid_rate"] == 1.0 and scores["coverage"] == 1.0 and scores["miou"] == 1.0
    assert 0.8 < scores["per_input_coverage"] <= 1.0  # theory 1 − (3/4)^8 = 0.90
    assert scores["jsd"] < JSD_PERFECT_P95_AT_400 + 0.005
    assert scores["pixel_diversity"] > 0.08


def test_identity_and_average_style_are_invalid(fifty_layouts, test_split):
    a = test_split["a"][:50]
    identity = oracle.multimodal_scores(a[:, None].expand(-1, 8, -1, -1, -1), fifty_layouts)
    assert identity["valid_rate"] == 0.0 and identity["coverage"] == 0.0 and identity["per_input_coverage"] == 0.0
    assert identity["jsd"] == pytest.approx(LN2) and identity["pixel_diversity"] == 0.0
    average = render(fifty_layouts, PALETTE_B, torch.from_numpy(STYLES).mean(0))
    blurred = oracle.multimodal_scores(average[:, None].expand(-1, 8, -1, -1, -1), fifty_layouts)
    assert blurred["valid_rate"] == 0.0 and blurred["jsd"] == pytest.approx(LN2)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=5, max_size=5).filter(lambda h: sum(h) > 0))
def test_style_jsd_property_stays_within_zero_and_ln2(histogram):
    value = oracle.style_jsd(np.array(histogram))
    assert -1e-12 <= value <= LN2 + 1e-12
    if histogram[4] == 0 and len(set(histogram[:4])) == 1:
        assert value == pytest.approx(0.0, abs=1e-12)


class StyleRenderer(torch.nn.Module):
    """A hand-made multimodal translator: classifies each input pixel by its A colour and paints
    the B colour of that class, with the background style chosen by the latent code (in [0, 1))."""

    def __init__(self, collapsed: bool = False):
        super().__init__()
        self.collapsed = collapsed
        self.register_buffer("palette_a", torch.from_numpy(PALETTE_A))

    def forward(self, x, code):
        classes = oracle.nearest_colour((x + 1) / 2, self.palette_a)
        styles = torch.zeros_like(code, dtype=torch.long) if self.collapsed else (code * 4).long().clamp(max=3)
        return render(classes, PALETTE_B, torch.from_numpy(STYLES)[styles.cpu()]) * 2 - 1


def code_translator():
    return Translator(nets=("G",), run=lambda nets, x, code: nets["G"](x, code),
                      sample_code=lambda n, generator, device: torch.rand(n, generator=generator).to(device))


def test_score_demo_with_a_hand_made_multimodal_translator():
    translator = code_translator()
    perfect = oracle.score_demo(translator, {"G": StyleRenderer()}, name="shapes-styles", samples=8)
    assert perfect["n_inputs"] == 50 and perfect["samples"] == 8
    assert perfect["coverage"] == 1.0 and perfect["valid_rate"] == 1.0 and perfect["miou"] == 1.0
    assert perfect["jsd"] < JSD_PERFECT_P95_AT_400 + 0.01 and perfect["per_input_coverage"] > 0.75
    collapsed = oracle.score_demo(translator, {"G": StyleRenderer(collapsed=True)}, name="shapes-styles", samples=8)
    assert collapsed["coverage"] == 0.25 and collapsed["jsd"] == pytest.approx(JSD_COLLAPSED, abs=1e-4)
    again = oracle.score_demo(translator, {"G": StyleRenderer()}, name="shapes-styles", samples=8)
    assert again == perfect  # codes come from the seed
    # one code per input, unimodal scoring with each output's detected style
    single = oracle.score_demo(translator, {"G": StyleRenderer()}, name="shapes-styles")
    assert single["miou"] == 1.0 and single["n_images"] == 200


# ------------------------------------------------------------------------------------------ training
def oracle_of(trainer) -> dict:
    return trainer.oracle_scores()


def test_shared_cyclegan_run_reaches_the_oracle_thresholds(cyclegan_demo_run, tmp_path):
    """The oracle benchmark's training check: after 400 tiny steps, mIoU ≥ 0.30 and MAE ≤ half of
    its value at step 0 (an untrained generator built the same way with the same seed)."""
    from i2i_core.translate import load_translator

    translator, nets = load_translator(cyclegan_demo_run)
    trained = oracle.score_demo(translator, nets)
    build = BuildOptions(image_size=32, preset="tiny")
    untrained = Trainer(build_recipe("cyclegan", build, sets={"data.batch_size": 8}),
                        TrainOptions(data="demo", out=tmp_path, steps=400), build)
    start = oracle_of(untrained)
    print(f"cyclegan seed 0: step 0 {oracle.format_scores(start)} -> step 400 {oracle.format_scores(trained)}; "
          f"per class {trained['per_class_iou']}")
    assert trained["miou"] >= 0.30
    assert trained["oracle_mae"] <= 0.5 * start["oracle_mae"]


# Terms that tie a multimodal model's outputs to its latent code; the collapsed control trains
# without them (the same recipe, its diversity terms switched off).
DIVERSITY_TERMS = ("latent_regression", "recon_style", "mode_seeking", "divco")
MULTIMODAL_KEYS = ("miou", "valid_rate", "coverage", "per_input_coverage", "jsd", "pixel_diversity")
# Coverage needs training long enough to leave the "average style". Measured after 400 tiny steps
# at batch 8, seed 0 (README): bicyclegan and divco still paint every background between the
# styles (valid_rate ≈ 0, so coverage 0 for the run and for its control alike), msgan has collapsed
# to one style; only MUNIT reaches the styles this early, and it is tested below by default. The
# comparison for every multimodal recipe runs when asked for: I2I_MULTIMODAL_STEPS=N.
CALIBRATION_STEPS = int(os.environ.get("I2I_MULTIMODAL_STEPS", "0"))


def multimodal_recipes() -> list[str]:
    found = []
    for name in sorted(registry.recipes()):
        recipe = build_recipe(name, BuildOptions(image_size=32, preset="tiny"))
        if "AtoB" in recipe.translators and recipe.translator("AtoB").sample_code is not None:
            found.append(name)
    return found


MULTIMODAL = multimodal_recipes()
NO_MULTIMODAL = [pytest.param(None, marks=pytest.mark.skip(reason="no multimodal recipe is registered yet"))]


def collapse_settings(name: str) -> dict:
    recipe = build_recipe(name, BuildOptions(image_size=32, preset="tiny"))
    return {f"{instance}.weight": 0.0 for instance, plugin in recipe.plugins.items()
            if plugin.name in DIVERSITY_TERMS and plugin.weight > 0}


def styles_trainer(name: str, out, steps: int, sets: dict | None = None, batch: int = 2) -> Trainer:
    """A tiny run on demo:shapes-styles."""
    return tiny_trainer(name, out, steps, data="demo:shapes-styles", batch=batch, sets=sets, log_every=steps,
                        save_every=steps)


@pytest.mark.parametrize("name", MULTIMODAL or NO_MULTIMODAL)
def test_multimodal_scoring_runs_through_every_multimodal_recipes_translator(name):
    recipe = build_recipe(name, BuildOptions(image_size=32, preset="tiny"))
    translator = recipe.translator("AtoB")
    torch.manual_seed(0)
    nets = {net: recipe.nets[net].build() for net in translator.nets}
    scores = oracle.score_demo(translator, nets, name="shapes-styles", samples=2, count=8)
    assert set(MULTIMODAL_KEYS) <= set(scores) and scores["n_inputs"] == 8 and scores["samples"] == 2
    assert scores["pixel_diversity"] > 0  # the two codes give two outputs
    assert oracle.score_demo(translator, nets, name="shapes-styles", samples=2, count=8) == scores  # seeded


@pytest.mark.slow
def test_munit_covers_more_styles_than_without_its_style_reconstruction(tmp_path):
    """Measured with the CLI (seed 0, batch 8): after 200 steps coverage 0.50 against 0.00 and
    per-input coverage 0.155 against 0; after 400, 1.00 against 0.25 (seed 1: 1.00 against 1.00,
    per-input 0.265 against 0.205), so the per-input score is the steadier of the two."""
    scores = {}
    for label, sets in (("trained", {}), ("control", collapse_settings("munit"))):
        trainer = styles_trainer("munit", tmp_path / label, 200, sets, batch=8)
        trainer.fit()
        translator = trainer.recipe.translator("AtoB")
        scores[label] = oracle.score_demo(translator, {n: trainer.nets[n] for n in translator.nets},
                                          name="shapes-styles", samples=oracle.MULTIMODAL_SAMPLES)
    trained, control = scores["trained"], scores["control"]
    assert collapse_settings("munit") == {"recon_style.weight": 0.0}
    assert trained["coverage"] > control["coverage"], scores
    assert trained["per_input_coverage"] > control["per_input_coverage"], scores
    assert trained["pixel_diversity"] > 0.01  # the output depends on the style code


@pytest.mark.slow
@pytest.mark.skipif(not CALIBRATION_STEPS, reason="multimodal coverage is not calibrated for short runs; "
                                                  "set I2I_MULTIMODAL_STEPS=N to compare after N steps")
@pytest.mark.parametrize("name", MULTIMODAL or NO_MULTIMODAL)
def test_multimodal_recipe_covers_more_styles_than_its_collapsed_control(name, tmp_path):
    off = collapse_settings(name)
    if not off:
        pytest.skip(f"{name} has none of the diversity terms {DIVERSITY_TERMS}")
    coverage = {}
    for label, sets in (("trained", {}), ("control", off)):
        trainer = styles_trainer(name, tmp_path / label, CALIBRATION_STEPS, sets, batch=8)
        trainer.fit()
        translator = trainer.recipe.translator("AtoB")
        scores = oracle.score_demo(translator, {n: trainer.nets[n] for n in translator.nets}, name="shapes-styles",
                                   samples=oracle.MULTIMODAL_SAMPLES)
        coverage[label] = scores["coverage"]
        print(name, label, CALIBRATION_STEPS, oracle.format_scores(scores))
    assert coverage["trained"] > coverage["control"], coverage
