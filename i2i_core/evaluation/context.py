"""What one evaluation is asked to do (:class:`EvalOptions`) and what its metrics share while it
runs (:class:`EvalContext`)."""
from __future__ import annotations

from pathlib import Path

import attrs


@attrs.define(kw_only=True)
class EvalOptions:
    suites: tuple = ()
    metrics: tuple = ()
    features: str = "pixel16"
    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    ndb_bins: int | None = None
    fid_resize: str = "pytorch-fid"
    inception: Path | None = None
    lpips_net: str = "alex"
    lpips_version: str = "0.1"
    lpips_backbone: Path | None = None
    lpips_lin: Path | None = None
    device: str | None = None


class EvalContext:
    """What metrics share during one evaluation: feature spaces and features (computed once),
    the running suite, the options and the device."""

    def __init__(self, options: EvalOptions, device):
        self.options, self.device, self.seed = options, device, options.seed
        self.suite: str | None = None
        self._cache: dict = {}

    def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def feature_space(self, name: str | None = None):
        from ..metrics.features import feature_space

        name = name or ("inception" if self.suite == "inception" else self.options.features)
        return self.cached(("space", name), lambda: feature_space(
            name, inception=self.options.inception, fid_resize=self.options.fid_resize, device=self.device))

    def features(self, space, which: str, images):
        return self.cached(("features", space.id, which), lambda: space(images, self.device, progress=True))

    def lpips(self):
        from ..metrics.lpips import load_lpips

        def load():
            model, record = load_lpips(self.options.lpips_net, self.options.lpips_version,
                                       self.options.lpips_backbone, self.options.lpips_lin)
            return model.to(self.device), record
        return self.cached(("lpips",), load)
