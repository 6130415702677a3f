"""Metrics as plugins: the built-in ids and the protocol a third party follows.

A plugin's ``i2i_metrics`` hook returns ``{id: metric}``, where a metric is either
- a :class:`Metric` (or a subclass of it, instantiated with no arguments): ``compute(sets, ctx)``
  returns ``{result name: {"value": number, ...details}}`` and ``suites`` names the suites
  (``distribution``, ``paired``, ``diversity``, ``inception``) it joins; or
- a plain callable ``fn(real, fake) -> float | dict`` on float N×3×H×W images in [0, 1], run when
  ``i2i eval --metrics ID`` names it (its result is named by its id).

``sets`` (:class:`ImageSets`) holds uint8 images; ``ctx`` is the evaluation context (features by
space, cached; the running suite; options; seed).
"""
from __future__ import annotations

from typing import Callable

import attrs
import torch

from ..errors import I2IError
from . import frechet, kid, ndb, paired, prdc, swd

SUITES = ("oracle", "distribution", "paired", "diversity", "inception")


@attrs.frozen
class Metric:
    id: str
    suites: tuple
    compute: Callable
    summary: str = ""
    needs: str = ""  # "lpips": joins its suites only when its weight files are present


@attrs.define
class ImageSets:
    """uint8 N×3×H×W sets: ``real`` (reference or ground truth), ``fake``; ``paired``: fake[i]
    belongs to real[i]; ``groups``: N×S×3×H×W, S outputs per input (multimodal runs)."""

    real: torch.Tensor | None
    fake: torch.Tensor
    paired: bool = False
    groups: torch.Tensor | None = None


def _distribution(name_of, fn, space_name: str | None = None):
    """A feature-space metric: ``fn(real features, fake features, ctx)`` → dict or {name: dict}.
    It runs in the context's feature space unless ``space_name`` fixes one."""
    def compute(sets, ctx):
        if sets.real is None:
            raise I2IError("distribution metrics need a reference set of real images")
        space = ctx.feature_space(space_name)
        real, fake = ctx.features(space, "real", sets.real), ctx.features(space, "fake", sets.fake)
        found = fn(real, fake, ctx)
        details = {**space.record(), "n_real": len(real), "n_fake": len(fake)}
        if "value" in found:
            return {name_of(space): {**found, **details}}
        return {name_of(space, key): {**value, **details} for key, value in found.items()}
    return compute


def _ndb_jsd(ctx, space, real, fake):
    return ctx.cached(("ndb", space.id), lambda: ndb.ndb_jsd(real, fake, bins=ctx.options.ndb_bins, seed=ctx.seed))


def _ndb(real, fake, ctx):
    found = dict(_ndb_jsd(ctx, ctx.feature_space(), real, fake))
    found["value"] = found.pop("ndb")
    return found


def _jsd(real, fake, ctx):
    found = _ndb_jsd(ctx, ctx.feature_space(), real, fake)
    keep = ("bins", "alpha", "seed", "whitened", "bins_rule")
    return {"value": found["jsd"], **{k: found[k] for k in keep}}


def _prdc(real, fake, ctx):
    found = prdc.prdc(real, fake)
    shared = {"k_precision_recall": found["k_precision_recall"], "k_density_coverage": found["k_density_coverage"]}
    return {key: {"value": found[key], **shared} for key in ("precision", "recall", "density", "coverage")}


def _kid(real, fake, ctx):
    return kid.kid(real, fake, subsets=ctx.options.kid_subsets, subset_size=ctx.options.kid_subset_size,
                   seed=ctx.seed)


def _swd(sets, ctx):
    found = swd.swd(sets.real, sets.fake, seed=ctx.seed)
    return {"swd": {**found, "n_real": len(sets.real), "n_fake": len(sets.fake)}}


def _inception_score(sets, ctx):
    from .inception import inception_score

    space = ctx.feature_space("inception")
    # The logits are a linear map of the pool3 features, which FID/KID share through the cache.
    logits = space.logits(ctx.features(space, "fake", sets.fake))
    return {"is": {**inception_score(logits), **space.record(), "n_fake": len(sets.fake)}}


def _pixel_metric(name, fn, diversity_fn=None, details=None):
    """A paired metric (output vs ground truth); in the diversity suite, the same distance between
    consecutive samples of each input. ``details(height, width)``: what its records add at that size."""
    def compute(sets, ctx):
        extra = details(*sets.fake.shape[-2:]) if details else {}
        if ctx.suite == "diversity":
            if sets.groups is None or sets.groups.shape[1] < 2:
                raise I2IError(f"{name}: the diversity suite needs several samples per input (--samples)")
            values = paired.consecutive_pairs(sets.groups, diversity_fn or fn)
            std = float(values.std()) if len(values) > 1 else 0.0
            return {f"diversity_{name}": {"value": float(values.mean()), "std": std,
                                         "n_inputs": int(sets.groups.shape[0]), "samples": int(sets.groups.shape[1]),
                                         "pairs": "consecutive samples of each input", **extra}}
        check_pairs(sets, name)
        values = fn(sets.fake, sets.real)
        return {name: {"value": float(values.mean()), "std": float(values.std()) if len(values) > 1 else 0.0,
                       "n_real": len(sets.real), "n_fake": len(sets.fake), **extra}}
    return compute


def _ms_ssim_details(height, width):
    # Small images hold fewer than the 5 published scales; the value depends on how many were used.
    return {"scales": paired.ms_ssim_scales(height, width), "window": paired.window_for(height, width)}


def check_pairs(sets: ImageSets, name: str) -> None:
    if not sets.paired or sets.real is None:
        raise I2IError(f"{name} compares each output with its ground truth; these images are not paired")
    if sets.real.shape != sets.fake.shape:
        raise I2IError(f"{name}: paired images differ in size: real {tuple(sets.real.shape[1:])}, "
                       f"generated {tuple(sets.fake.shape[1:])}")


def _lpips(sets, ctx):
    model, record = ctx.lpips()
    net = record["lpips_net"]

    def distance(x, y):
        out = []
        for start in range(0, len(x), 32):
            a = x[start:start + 32].to(ctx.device).float() / 255 * 2 - 1
            b = y[start:start + 32].to(ctx.device).float() / 255 * 2 - 1
            with torch.no_grad():
                out.append(model(a, b).double().cpu())
        return torch.cat(out)

    found = _pixel_metric(f"lpips_{net}", distance)(sets, ctx)
    return {name: {**value, **record, "resize": "none", "dtype": "float32"} for name, value in found.items()}


def builtin_metrics() -> dict[str, Metric]:
    def fd_compute(real, fake, ctx):
        return frechet.fd(real, fake)

    return {
        "fid": Metric("fid", ("inception",), _distribution(lambda s: "fid", fd_compute, "inception"),
                      "Fréchet Inception Distance (needs the user's Inception file)"),
        "kid": Metric("kid", ("distribution", "inception"), _distribution(lambda s: f"kid_{s.id}", _kid),
                      "Kernel Inception Distance on the chosen feature space, unbiased, seeded subsets"),
        "is": Metric("is", ("inception",), _inception_score, "Inception Score (needs the user's Inception file)"),
        "lpips": Metric("lpips", ("paired", "diversity"), _lpips,
                        "LPIPS, paired or between samples (needs backbone weights)", needs="lpips"),
        "fd": Metric("fd", ("distribution",), _distribution(lambda s: f"fd_{s.id}", fd_compute),
                     "Fréchet distance on a weight-free feature space (not FID)"),
        "ndb": Metric("ndb", ("distribution",), _distribution(lambda s: f"ndb_{s.id}", _ndb),
                      "number of statistically different k-means bins"),
        "jsd": Metric("jsd", ("distribution",), _distribution(lambda s: f"jsd_{s.id}", _jsd),
                      "Jensen-Shannon divergence of the k-means bin proportions"),
        "swd": Metric("swd", ("distribution",), _swd, "sliced Wasserstein distance of Laplacian-pyramid patches"),
        "prdc": Metric("prdc", ("distribution",), _distribution(lambda s, key: f"{key}_{s.id}", _prdc),
                       "precision, recall, density, coverage"),
        "l1": Metric("l1", ("paired", "diversity"), _pixel_metric("l1", paired.l1), "mean absolute error"),
        "psnr": Metric("psnr", ("paired",), _pixel_metric("psnr", paired.psnr), "peak signal-to-noise ratio (dB)"),
        "ssim": Metric("ssim", ("paired",), _pixel_metric("ssim", paired.ssim), "structural similarity"),
        "ms_ssim": Metric("ms_ssim", ("paired", "diversity"),
                          _pixel_metric("ms_ssim", paired.ms_ssim, details=_ms_ssim_details),
                          "multi-scale SSIM (between samples: lower is more diverse)"),
    }


def _wrap_callable(metric_id: str, fn) -> Metric:
    def compute(sets, ctx):
        real = None if sets.real is None else sets.real.float() / 255
        value = fn(real, sets.fake.float() / 255)
        if isinstance(value, dict):
            return {f"{metric_id}_{key}" if key != "value" else metric_id: {"value": float(v)}
                    for key, v in value.items()}
        return {metric_id: {"value": float(value)}}
    return Metric(metric_id, (), compute, getattr(fn, "__doc__", "") or "")


def registered() -> dict[str, Metric]:
    """Every registered metric by id, built-ins and third parties' alike."""
    from .. import plugins as registry

    table = {}
    for metric_id, item in registry.metrics().items():
        if isinstance(item, Metric):
            table[metric_id] = item
        elif isinstance(item, type) and issubclass(item, Metric):
            table[metric_id] = item()
        elif callable(item):
            table[metric_id] = _wrap_callable(metric_id, item)
        else:
            raise I2IError(f"metric {metric_id!r} is registered as {item!r}, which is neither a Metric nor a callable")
    return table


def suite_metrics(suite: str, table: dict[str, Metric]) -> list[Metric]:
    return [metric for metric in table.values() if suite in metric.suites]
