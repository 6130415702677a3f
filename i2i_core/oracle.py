"""Oracle scores on the built-in shapes domains (i2i's own; README, "Evaluation"): the true translation is known.

Unimodal: label every output pixel with the class of the nearest target-palette colour;
``miou`` is the mean over the 4 classes of IoU against the layout, from the confusion matrix
summed over the test set (rows: true class, columns: predicted class). ``oracle_mae`` and
``oracle_psnr`` compare with the true render; ``purity`` quantises to the 11 reference colours,
maps each colour to its majority true class and scores that mapping, so it measures geometry
alone (identity and colour-swapped outputs score 1).

Multimodal: an output's style is the style prototype nearest to its mean colour over the
true background; farther than τ = 0.10 it is invalid. ``valid_rate``, ``coverage`` (distinct
valid styles / K), ``per_input_coverage`` (the same per input, averaged), ``jsd`` (natural log)
between the (K + 1)-bin histogram — K styles and "invalid" — and uniform over the K styles, and
``pixel_diversity`` (mean L1 between consecutive samples of an input); ``miou`` then uses each
output's detected style as its background colour.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .demo import PALETTE_A, PALETTE_B, STYLES, DemoDataset

CLASS_NAMES = ("background", "disc", "square", "triangle")
STYLE_NAMES = ("navy", "maroon", "forest", "grey")
STYLE_TOLERANCE = 0.10  # τ: farther than this from every style prototype, an output's background is invalid
# Every colour either domain uses (A, B and style palettes; navy appears twice), for purity.
REFERENCE_COLOURS = torch.from_numpy(np.unique(np.concatenate([PALETTE_A, PALETTE_B, STYLES]), axis=0))
MULTIMODAL_INPUTS, MULTIMODAL_SAMPLES = 50, 8  # the protocol: 50 inputs × S = 8 codes
TEST_IMAGES = 200
PSNR_MSE_FLOOR = 1e-10  # a perfect output would give infinite PSNR; this caps it at 100 dB


def nearest_colour(images: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """N×3×H×W and colours (K×3, or N×K×3 per image) → N×H×W index of the nearest colour (L2)."""
    colours = colours.to(images)
    if colours.dim() == 2:
        colours = colours.expand(images.shape[0], -1, -1)
    distance = ((images[:, None] - colours[:, :, :, None, None]) ** 2).sum(2)
    return distance.argmin(1)


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor, classes: int = 4) -> torch.Tensor:
    """classes×classes counts; row = true class, column = predicted class."""
    index = true.reshape(-1).long() * classes + predicted.reshape(-1).long()
    return torch.bincount(index, minlength=classes * classes).reshape(classes, classes)


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    confusion = confusion.double()
    hits = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - hits
    return torch.where(union > 0, hits / union.clamp(min=1), torch.zeros_like(hits))


def structure_purity(images: torch.Tensor, layouts: torch.Tensor) -> float:
    """Accuracy of mapping each quantised colour to its majority true class."""
    labels = nearest_colour(images, REFERENCE_COLOURS)
    joint = confusion_matrix(labels, layouts.to(labels.device), classes=len(REFERENCE_COLOURS))[:, :4]
    return float(joint.max(1).values.sum() / joint.sum())


def background_colour(images: torch.Tensor, layouts: torch.Tensor) -> torch.Tensor:
    """N×3 mean colour of each image over its true background pixels."""
    mask = (layouts == 0).to(images).unsqueeze(1)
    return (images * mask).sum((2, 3)) / mask.sum((2, 3)).clamp(min=1)


def detect_styles(images: torch.Tensor, layouts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(nearest style index, distance to it) per image."""
    distance = torch.cdist(background_colour(images, layouts).double(), torch.from_numpy(STYLES).double())
    best = distance.min(1)
    return best.indices, best.values


def styles_or_invalid(images: torch.Tensor, layouts: torch.Tensor) -> torch.Tensor:
    """Nearest style index per image, or ``len(STYLES)`` where the background is farther than τ
    from every style (invalid)."""
    styles, distance = detect_styles(images, layouts)
    return torch.where(distance <= STYLE_TOLERANCE, styles, torch.full_like(styles, len(STYLES)))


def _class_scores(images, layouts, palettes) -> dict:
    confusion = confusion_matrix(layouts, nearest_colour(images, palettes))
    iou = iou_per_class(confusion)
    return {"miou": float(iou.mean()), "per_class_iou": dict(zip(CLASS_NAMES, map(float, iou))),
            "confusion": confusion.tolist()}


def _styled_palettes(images, layouts, palette) -> torch.Tensor:
    """N×4×3: ``palette`` with each image's detected background style."""
    styles, _ = detect_styles(images, layouts)
    palettes = torch.from_numpy(palette).to(images).expand(images.shape[0], -1, -1).clone()
    palettes[:, 0] = torch.from_numpy(STYLES).to(images)[styles.cpu()]
    return palettes


def unimodal_scores(outputs: torch.Tensor, layouts: torch.Tensor, truths: torch.Tensor,
                    palette: np.ndarray = PALETTE_B, styled: bool = False) -> dict:
    """Scores of N×3×H×W outputs in [0, 1] against N×H×W layouts and the true renders.

    ``styled``: the target domain has background styles (shapes-styles B), so each output is
    labelled with the palette of its detected style."""
    outputs, layouts, truths = outputs.float().clamp(0, 1), layouts.long(), truths.float()
    palettes = _styled_palettes(outputs, layouts, palette) if styled else torch.from_numpy(palette)
    scores = _class_scores(outputs, layouts, palettes)
    error = outputs - truths
    mse = (error**2).mean((1, 2, 3)).double().clamp(min=PSNR_MSE_FLOOR)
    scores.update(oracle_mae=float(error.abs().mean()), oracle_psnr=float((-10 * mse.log10()).mean()),
                  purity=structure_purity(outputs, layouts), n_images=int(outputs.shape[0]))
    return scores


def style_jsd(histogram: np.ndarray) -> float:
    """JSD (natural log) between a (K + 1)-bin histogram (K styles, then "invalid") and uniform over K."""
    p = np.asarray(histogram, np.float64) / np.sum(histogram)
    k = len(p) - 1
    uniform = np.append(np.full(k, 1.0 / k), 0.0)
    middle = (p + uniform) / 2

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return 0.5 * kl(p, middle) + 0.5 * kl(uniform, middle)


def multimodal_scores(samples: torch.Tensor, layouts: torch.Tensor, palette: np.ndarray = PALETTE_B,
                      styled: bool = True, truths: torch.Tensor | None = None) -> dict:
    """Scores of N×S×3×H×W outputs in [0, 1] (S latent codes per input) against N×H×W layouts.

    The style scores need a target domain with background styles (shapes-styles, AtoB). Without
    them (``styled=False``) every sample gets the unimodal scores against ``truths`` (N×3×H×W),
    plus the pixel diversity."""
    n, s = samples.shape[:2]
    samples, layouts = samples.float().clamp(0, 1), layouts.long()
    flat = samples.reshape(n * s, *samples.shape[2:])
    flat_layouts = layouts.repeat_interleave(s, 0)
    diversity = (samples[:, 1:] - samples[:, :-1]).abs().mean().item() if s > 1 else 0.0
    if not styled:
        if truths is None:
            raise ValueError("a target domain without styles is scored against its true renders: pass truths")
        scores = unimodal_scores(flat, flat_layouts, truths.float().repeat_interleave(s, 0), palette)
        scores.update(pixel_diversity=float(diversity), n_inputs=int(n), samples=int(s))
        return scores
    k = len(STYLES)
    detected = styles_or_invalid(flat, flat_layouts).reshape(n, s)
    valid = detected < k
    histogram = torch.bincount(detected.reshape(-1), minlength=k + 1).numpy()
    per_input = [len(set(row.tolist()) - {k}) / k for row in detected]
    scores = _class_scores(flat, flat_layouts, _styled_palettes(flat, flat_layouts, palette))
    scores.update(
        valid_rate=float(valid.double().mean()),
        coverage=int((histogram[:k] > 0).sum()) / k,
        per_input_coverage=float(np.mean(per_input)),
        jsd=style_jsd(histogram),
        pixel_diversity=float(diversity),
        purity=structure_purity(flat, flat_layouts),
        style_counts=dict(zip(STYLE_NAMES + ("invalid",), map(int, histogram))),
        n_inputs=int(n), samples=int(s),
    )
    return scores


# --------------------------------------------------------------------------- translating the test split
def demo_test_batch(name: str = "shapes", res: int = 32, count: int = TEST_IMAGES, direction: str = "AtoB") -> dict:
    """The paired test split as tensors: ``source``, ``target`` (3×H×W in [-1, 1]) and ``layout``."""
    dataset = DemoDataset(name, split="test", res=res, length=count)
    items = [dataset[(i, 0)] for i in range(count)]
    batch = {key: torch.stack([item[key] for item in items]) for key in ("real_A", "real_B", "layout")}
    source, target = ("real_A", "real_B") if direction == "AtoB" else ("real_B", "real_A")
    return {"source": batch[source], "target": batch[target], "layout": batch["layout"]}


def target_palette(name: str, direction: str) -> tuple[np.ndarray, bool]:
    """(palette of the target domain, whether its background has styles)."""
    if direction == "AtoB":
        return PALETTE_B, name == "shapes-styles"
    return PALETTE_A, False


@torch.no_grad()
def translate_batches(translator, nets, inputs: torch.Tensor, device, code_of=None, batch: int = 50,
                      progress: bool = False) -> torch.Tensor:
    """Outputs in [0, 1] on the CPU; ``code_of(start, stop)`` gives the latent codes of a batch;
    ``progress``: a progress bar (on a terminal)."""
    from tqdm import tqdm

    modes = {name: net.training for name, net in nets.items()}
    for net in nets.values():
        net.eval()
    try:
        outputs = []
        starts = range(0, inputs.shape[0], batch)
        for start in tqdm(starts, desc="translating", unit="batch", leave=False, disable=None if progress else True):
            stop = min(start + batch, inputs.shape[0])
            code = code_of(start, stop) if code_of is not None else None
            y = translator.run(nets, inputs[start:stop].to(device), code)
            outputs.append(((y.float() + 1) / 2).clamp(0, 1).cpu())
        return torch.cat(outputs)
    finally:
        for name, net in nets.items():
            net.train(modes[name])


def draw_codes(translator, count: int, samples: int, seed: int, device) -> list:
    """``samples`` lists of ``count`` latent codes each, from one generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return [translator.sample_code(count, generator, device) for _ in range(samples)]


def slice_code(code, start, stop):
    """Rows ``start:stop`` of a batch of latent codes (a tensor, or tuples / dicts of them)."""
    if isinstance(code, torch.Tensor):
        return code[start:stop]
    if isinstance(code, (tuple, list)):
        return type(code)(slice_code(c, start, stop) for c in code)
    if isinstance(code, dict):
        return {key: slice_code(c, start, stop) for key, c in code.items()}
    return code


def score_demo(translator, nets, *, name: str = "shapes", res: int = 32, direction: str = "AtoB",
               samples: int | None = None, count: int | None = None, seed: int = 0, device="cpu") -> dict:
    """Translate the demo test split and score it: unimodal scores, or with ``samples`` S latent
    codes per input the multimodal ones. A multimodal translator without ``samples`` gets one
    code per input and the unimodal scores."""
    device = torch.device(device)
    multimodal = translator.sample_code is not None
    if samples is not None and not multimodal:
        raise ValueError("samples needs a translator that samples latent codes")
    count = count or (MULTIMODAL_INPUTS if samples else TEST_IMAGES)
    data = demo_test_batch(name, res, count, direction)
    palette, styled = target_palette(name, direction)
    if samples is None:
        codes = draw_codes(translator, count, 1, seed, device)[0] if multimodal else None
        code_of = (lambda a, b: slice_code(codes, a, b)) if multimodal else None
        outputs = translate_batches(translator, nets, data["source"], device, code_of)
        truths = (data["target"] + 1) / 2
        return unimodal_scores(outputs, data["layout"], truths, palette, styled=styled)
    per_sample = []
    for codes in draw_codes(translator, count, samples, seed, device):
        per_sample.append(translate_batches(translator, nets, data["source"], device,
                                            lambda a, b, codes=codes: slice_code(codes, a, b)))
    return multimodal_scores(torch.stack(per_sample, 1), data["layout"], palette, styled=styled,
                             truths=(data["target"] + 1) / 2)


def format_scores(scores: dict) -> str:
    """One line: the headline numbers of a score dict."""
    keys = ("miou", "oracle_mae", "purity", "valid_rate", "coverage", "per_input_coverage", "jsd", "pixel_diversity")
    return ", ".join(f"{key} {scores[key]:.3f}" for key in keys if key in scores and not math.isnan(scores[key]))
