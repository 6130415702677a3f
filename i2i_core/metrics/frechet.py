"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):

    FD = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2})

with Tr((Σ_r Σ_g)^{1/2}) = Σ_i sqrt(λ_i), λ_i the eigenvalues (clamped at 0) of the symmetric
Σ_r^{1/2} Σ_g Σ_r^{1/2}; everything in float64. On Inception pool3 features this is FID; on any
other feature space it is reported as ``fd_<space>``. The estimate is biased upward, about ∝ 1/N,
so compare only at equal N, which the report records.
"""
from __future__ import annotations

import numpy as np

from .errors import TooFewSamples


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (N − 1) of N×d features, float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise TooFewSamples(f"a covariance needs at least 2 samples, got {x.shape[0] if x.ndim else 0}")
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Principal square root of a symmetric positive semi-definite matrix (eigenvalues clamped at 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root = symmetric_sqrt(sigma1)
    middle = root @ sigma2 @ root
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2).clip(min=0)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(eigenvalues).sum())


def fd(real_features, fake_features) -> dict:
    """FD between two feature sets, with what a reader needs to compare it (N, d, rank deficiency)."""
    mu_r, sigma_r = gaussian_stats(real_features)
    mu_g, sigma_g = gaussian_stats(fake_features)
    n_r, n_g, dim = len(real_features), len(fake_features), mu_r.shape[0]
    return {"value": frechet_distance(mu_r, sigma_r, mu_g, sigma_g), "dim": int(dim),
            "rank_deficient": bool(min(n_r, n_g) <= dim)}
