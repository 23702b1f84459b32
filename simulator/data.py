"""Datasets: generation, loading, unit normalisation and separability δ (SPEC §1)."""

import numpy as np


def separability(X):
    """δ = min_{i≠j} min(‖x_i − x_j‖, ‖x_i + x_j‖) for unit-norm rows (Def. 2.11).

    For unit vectors ‖x_i ∓ x_j‖² = 2 ∓ 2⟨x_i, x_j⟩, so δ comes from the largest |⟨x_i, x_j⟩|.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if n < 2:
        return float("inf")
    C = np.abs(X @ X.T)
    np.fill_diagonal(C, -np.inf)
    c = min(float(C.max()), 1.0)
    return float(np.sqrt(max(2.0 - 2.0 * c, 0.0)))
