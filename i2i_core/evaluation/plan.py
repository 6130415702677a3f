"""Planning and running the metrics: which weight files are present, which (suite, metric) jobs
apply, and each number's provenance."""
from __future__ import annotations

from .. import __version__
from ..errors import ConfigError, I2IError
from .context import EvalContext, EvalOptions


def weights_present(options: EvalOptions) -> dict[str, bool]:
    """Whether the Inception file and the LPIPS files can be found (a wrong checksum still fails later)."""
    from ..metrics import weights
    from ..metrics.lpips import packaged_linear_candidates

    def found(file, explicit):
        if explicit is not None:
            return True
        return any(place is not None and (place / name).is_file()
                   for _, place in weights.search_places(None, "")[1:] for name in (file.name, *file.aliases))

    lin = options.lpips_lin is not None or any(
        p.is_file() for p in packaged_linear_candidates(options.lpips_net, options.lpips_version))
    return {"inception": found(weights.INCEPTION, options.inception),
            "lpips": lin and found(weights.BACKBONES.get(options.lpips_net, weights.ALEXNET), options.lpips_backbone)}


def plan(options: EvalOptions, applicable: list[str]) -> list[tuple[str, object]]:
    """(suite, metric) jobs: the metrics named by ``--metrics``, else every metric of the suites."""
    from ..metrics.registry import SUITES, registered, suite_metrics

    table = registered()
    if options.metrics:
        jobs = []
        for metric_id in options.metrics:
            if metric_id not in table:
                raise ConfigError(f"unknown metric {metric_id!r}; valid: {', '.join(sorted(table))}")
            metric = table[metric_id]
            in_reach = [s for s in metric.suites if s in applicable]
            jobs.append((in_reach[0] if in_reach else (metric.suites[0] if metric.suites else "custom"), metric))
        return jobs
    suites = list(options.suites or applicable)
    for suite in suites:
        if suite not in SUITES:
            raise ConfigError(f"unknown suite {suite!r}; valid: {', '.join(SUITES)}")
    present = weights_present(options)
    if not options.suites and present["inception"]:
        suites.append("inception")
    # On Inception features the distribution suite's fd and kid are the inception suite's fid and kid.
    same_as_inception = {"fd", "kid"} if options.features == "inception" and "inception" in suites else set()
    jobs = []
    for suite in suites:
        if suite == "oracle":
            continue  # scored by the oracle itself, on the demo data only
        jobs += [(suite, metric) for metric in suite_metrics(suite, table)
                 if (not metric.needs or present[metric.needs])
                 and not (suite == "distribution" and metric.id in same_as_inception)]
    return jobs


def run_jobs(sets, jobs, ctx: EvalContext) -> tuple[dict, dict]:
    """(results by name, skipped metric ids with the reason)."""
    from ..metrics.errors import TooFewSamples

    results, skipped = {}, {}
    for suite, metric in jobs:
        ctx.suite = suite
        try:
            found = metric.compute(sets, ctx)
        except TooFewSamples as exc:
            skipped[f"{metric.id} ({suite})"] = str(exc)
            continue
        for name, record in found.items():
            if name in results:
                raise I2IError(f"metric {metric.id!r} reports {name!r}, which another metric already reported")
            results[name] = provenance(metric.id, suite, record, ctx, sets)
    return results, skipped


def provenance(metric_id: str, suite: str, record: dict, ctx: EvalContext, sets=None) -> dict:
    """Every provenance field of one number; ``record`` overrides the defaults (and gives the
    sample counts where there is no image set)."""
    import torch

    base = {"metric": metric_id, "suite": suite, "i2i_version": __version__, "torch_version": torch.__version__,
            "device": str(ctx.device), "dtype": "float64", "features": None, "features_sha256": None,
            "resize": "none", "n_real": None if sets is None or sets.real is None else len(sets.real),
            "n_fake": None if sets is None else len(sets.fake), "subsets": None, "subset_size": None,
            "seed": ctx.seed}
    return {**base, **record}
