"""Kernel Inception Distance (Bińkowski et al. 2018) on any feature space: polynomial kernel

    k(x, y) = (xᵀy / d + 1)³

and the unbiased MMD² on random subsets of size m,

    MMD²_u = [Σ_{i≠j} k(x_i, x_j) + Σ_{i≠j} k(y_i, y_j)] / (m(m−1)) − 2 Σ_{i,j} k(x_i, y_j) / m²

averaged over S subsets (default S = 100, m = min(1000, N_r, N_g), drawn without replacement
from a seeded generator). Unbiased, so it can be negative for similar sets; reported unscaled
(not ×100 or ×1000) with its standard deviation over subsets. When m equals both set sizes every
subset is the whole of both sets (MMD² ignores order), so it is computed once: one subset, no std.
"""
from __future__ import annotations

import numpy as np

from .errors import TooFewSamples

SUBSETS, SUBSET_SIZE = 100, 1000


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, m = len(x), len(y)
    k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within_x + within_y - 2 * polynomial_kernel(x, y).mean())


def kid(real_features, fake_features, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE, seed: int = 0) -> dict:
    real, fake = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise TooFewSamples(f"KID needs at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    found = {"subset_size": int(m), "seed": int(seed), "scale": "unscaled (not x100 / x1000)"}
    if m == len(real) == len(fake):
        return {"value": mmd2_unbiased(real, fake), "std": None, "subsets": 1, **found,
                "subsets_rule": "subset size = both set sizes: the whole sets, computed once"}
    rng = np.random.default_rng(seed)
    values = np.array([mmd2_unbiased(real[rng.choice(len(real), m, replace=False)],
                                     fake[rng.choice(len(fake), m, replace=False)]) for _ in range(subsets)])
    return {"value": float(values.mean()), "std": float(values.std()), "subsets": int(subsets), **found}
