"""Number of statistically Different Bins and JSD (Richardson & Weiss 2018), with our own k-means.

Bins are k-means clusters of the (whitened) reference samples, sorted by size; each generated
sample falls in the bin of its nearest centre. Per bin a two-proportion z-test,

    p̂ = (P·n_r + Q·n_g)/(n_r + n_g),  SE = sqrt(p̂(1 − p̂)(1/n_r + 1/n_g)),  z = (P − Q)/SE,

flags the bin when the two-tailed p < α = 0.05; NDB counts flagged bins. JSD = ½KL(P‖M) + ½KL(Q‖M),
M = (P + Q)/2, natural log, so 0 ≤ JSD ≤ ln 2.

Bins: K = 100 with at least 50 reference samples per bin (n_r ≥ 5000); below that K = n_r // 50
(at least 2), so that the z-test's normal approximation holds. Under the null about α·K bins are
flagged by chance, so NDB is reported with K, n_r and n_g.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import TooFewSamples

DEFAULT_BINS, SAMPLES_PER_BIN, MIN_BINS = 100, 50, 2
ALPHA = 0.05
MAX_CLUSTER_DIMS = 1000  # above this, cluster on a random d // 6 subset of dimensions (as the reference)


def default_bins(n_reference: int) -> int:
    return max(MIN_BINS, min(DEFAULT_BINS, n_reference // SAMPLES_PER_BIN))


def squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return (x**2).sum(1)[:, None] - 2 * x @ centres.T + (centres**2).sum(1)[None, :]


def kmeans(x, k: int, seed: int = 0, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding: (centres k×d, labels). An emptied cluster is
    re-seeded at the point farthest from its centre."""
    x = np.asarray(x, np.float64)
    if len(x) < k:
        raise TooFewSamples(f"k-means with {k} bins needs at least {k} samples, got {len(x)}")
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    closest = squared_distances(x, np.array(centres))[:, 0].clip(min=0)
    for _ in range(1, k):
        total = closest.sum()
        pick = rng.choice(len(x), p=closest / total) if total > 0 else rng.integers(len(x))
        centres.append(x[pick])
        closest = np.minimum(closest, squared_distances(x, x[pick][None])[:, 0].clip(min=0))
    centres = np.array(centres)
    labels = None
    for _ in range(iterations):
        distances = squared_distances(x, centres)
        new_labels = distances.argmin(1)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for c in range(k):
            members = x[labels == c]
            if len(members):
                centres[c] = members.mean(0)
            else:
                far = distances[np.arange(len(x)), labels].argmax()
                centres[c], labels[far] = x[far], c
    return centres, labels


def two_proportion_test(p, q, n_p: int, n_q: int) -> tuple[np.ndarray, np.ndarray]:
    """(z, two-tailed p-value) per bin; a bin empty (or full) in both sets has z = 0, p = 1."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    pooled = (p * n_p + q * n_q) / (n_p + n_q)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_p + 1 / n_q))
    z = np.divide(p - q, se, out=np.zeros_like(p), where=se > 0)
    p_values = np.array([math.erfc(abs(v) / math.sqrt(2)) for v in z])
    return z, p_values


def jensen_shannon(p, q) -> float:
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    total = p + q

    def kl_to_middle(a):
        # log(a / m) written as log 2 + log a − log(p + q): (p + q) / 2 can underflow where a > 0
        mask = a > 0
        return float(np.sum(a[mask] * (np.log(2) + np.log(a[mask]) - np.log(total[mask]))))

    return 0.5 * kl_to_middle(p) + 0.5 * kl_to_middle(q)


def ndb_jsd(real, fake, bins: int | None = None, alpha: float = ALPHA, seed: int = 0, whiten: bool = True) -> dict:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    n_r, n_g = len(real), len(fake)
    if n_r < SAMPLES_PER_BIN * MIN_BINS // 2 or n_g < 2:
        raise TooFewSamples(f"NDB/JSD needs at least {SAMPLES_PER_BIN * MIN_BINS // 2} reference and 2 generated "
                            f"images, got {n_r} and {n_g}")
    k = bins or default_bins(n_r)
    if whiten:
        mean, std = real.mean(0), real.std(0) + 1e-6
        real, fake = (real - mean) / std, (fake - mean) / std
    rng = np.random.default_rng(seed)
    if real.shape[1] > MAX_CLUSTER_DIMS:
        dims = np.sort(rng.choice(real.shape[1], real.shape[1] // 6, replace=False))
        real, fake = real[:, dims], fake[:, dims]
    centres, labels = kmeans(real, k, seed=seed)
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")  # bins sorted by size
    centres = centres[order]
    p = np.bincount(squared_distances(real, centres).argmin(1), minlength=k) / n_r
    q = np.bincount(squared_distances(fake, centres).argmin(1), minlength=k) / n_g
    z, p_values = two_proportion_test(p, q, n_r, n_g)
    different = p_values < alpha
    return {"ndb": int(different.sum()), "bins": int(k), "ndb_ratio": float(different.mean()),
            "jsd": jensen_shannon(p, q), "different_bins": np.flatnonzero(different).tolist(),
            "p_real": p.tolist(), "q_fake": q.tolist(), "alpha": alpha, "seed": int(seed), "whitened": whiten,
            "bins_rule": f"K = min({DEFAULT_BINS}, max({MIN_BINS}, n_real // {SAMPLES_PER_BIN}))" if bins is None
            else "given"}
