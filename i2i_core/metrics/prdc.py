"""Precision/recall (Kynkäänniemi et al. 2019, k = 3) and density/coverage (Naeem et al. 2020, k = 5).

Each real sample r_i gets a ball of radius NND_k(r_i), its distance to its k-th nearest real neighbour:

    precision = (1/M) Σ_j 1[∃i: ‖f_j − r_i‖ ≤ NND_k(r_i)]     recall: the same with real and fake swapped
    density   = (1/(kM)) Σ_j Σ_i 1[‖f_j − r_i‖ ≤ NND_k(r_i)]
    coverage  = (1/N) Σ_i 1[∃j: ‖f_j − r_i‖ ≤ NND_k(r_i)]

With n ≤ k samples in a set, k drops to n − 1 and the report says so.
"""
from __future__ import annotations

import torch

from .errors import TooFewSamples

K_PRECISION_RECALL, K_DENSITY_COVERAGE = 3, 5


def kth_neighbour_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    distances = torch.cdist(x, x)
    return distances.kthvalue(k + 1, dim=1).values  # the 0-th neighbour is the sample itself


def prdc(real_features, fake_features, k_pr: int = K_PRECISION_RECALL, k_dc: int = K_DENSITY_COVERAGE) -> dict:
    real = torch.as_tensor(real_features, dtype=torch.float64)
    fake = torch.as_tensor(fake_features, dtype=torch.float64)
    smallest = min(len(real), len(fake))
    if smallest < 2:
        raise TooFewSamples(f"precision/recall needs at least 2 images per set, got {len(real)} and {len(fake)}")
    k_pr, k_dc = min(k_pr, smallest - 1), min(k_dc, len(real) - 1)
    fake_to_real = torch.cdist(fake, real)  # M×N
    inside_pr = fake_to_real <= kth_neighbour_radii(real, k_pr)[None, :]
    inside_fake_balls = fake_to_real.T <= kth_neighbour_radii(fake, k_pr)[None, :]
    inside_dc = fake_to_real <= kth_neighbour_radii(real, k_dc)[None, :]
    return {"precision": float(inside_pr.any(1).double().mean()),
            "recall": float(inside_fake_balls.any(1).double().mean()),
            "density": float(inside_dc.double().sum() / (k_dc * len(fake))),
            "coverage": float(inside_dc.any(0).double().mean()),
            "k_precision_recall": int(k_pr), "k_density_coverage": int(k_dc)}
