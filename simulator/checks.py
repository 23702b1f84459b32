"""Input checks shared by the public data-structure classes (tree.py, balltree.py).

Each returns a clean array (C-ordered float64 / int64) or raises ValueError naming the argument, so
the Numba kernels behind those classes can assume clean input and never raise a Numba error.
"""

import numpy as np


def matrix(name, A, cols=None):
    """A finite real 2-D array as C-ordered float64 (with `cols` columns if given)."""
    A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {A.shape}")
    if cols is not None and A.shape[1] != cols:
        raise ValueError(f"{name}: expected {cols} columns, got shape {A.shape}")
    if not np.issubdtype(A.dtype, np.number) or np.iscomplexobj(A):
        raise ValueError(f"{name}: expected real numbers, got dtype {A.dtype}")
    A = np.ascontiguousarray(A, dtype=np.float64)
    if not np.isfinite(A).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return A


def ids(name, idx, N, noun):
    """Distinct integer ids in [0, N) as int64 (`noun`: what they number, for the message)."""
    idx = np.asarray(idx)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise ValueError(f"{name}: expected a 1-D array of integer {noun} ids, got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= N):
        raise ValueError(f"{name}: {noun} ids must lie in [0, {N}), got range [{idx.min()}, {idx.max()}]")
    ordered = np.sort(idx)  # not np.unique: numpy 2's hashing unique is ~10× slower (0.17 s for 2·10⁵ ids)
    if np.any(ordered[1:] == ordered[:-1]):
        raise ValueError(f"{name}: {noun} ids must be distinct")
    return idx
