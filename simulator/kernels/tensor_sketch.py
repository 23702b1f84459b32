"""Tensor sketches of Kronecker rows u_i ⊗ v_i (seed 004, Song-Zhang-Zhang).

The multi-layer solver needs J̃ = J Sᵀ (n × s) for a Jacobian J whose row i is
u_i ⊗ v_i ∈ R^{m²}, row-major: (u ⊗ v)[a·m + b] = u[a]·v[b]. Forming those rows
costs n·m² words; the two sketches here read only u_i and v_i:

- `tensorsketch` (Pham & Pagh 2013): CountSketch each factor with its own hash
  (h1, s1), (h2, s2): [m] → [s] × {±1}, then multiply the two length-s sketches
  as polynomials mod z^s − 1 (a circular convolution, done by FFT). The result
  IS the CountSketch of u ⊗ v with hash (h1(a) + h2(b)) mod s and sign
  s1(a)·s2(b); E⟨Sx, Sy⟩ = ⟨x, y⟩ because two distinct pairs (a, b) ≠ (a', b')
  differ in a or in b, so their sign product has mean 0. No scaling.
- `tensor_srht` (Ahle et al. 2020's TensorSRHT): entry k of row i is
  (1/√s)·(H D1 ũ_i)[I_k]·(H D2 ṽ_i)[J_k], H the UNNORMALISED Walsh-Hadamard
  matrix (±1 entries), ũ the zero padding to M = 2^⌈log2 m⌉, I, J independent
  uniform rows of [0, M) with replacement. Since HᵀH = M·Id, E over I_k of
  (HD1u)[I_k](HD1u')[I_k] = ⟨u, u'⟩, and I_k, J_k independent give the product.
- `gaussian_kron`: the dense reference, i.i.d. N(0, 1/s) on the explicit rows,
  for small m only.

Randomness: every sketch is drawn from `np.random.default_rng(seed)` in an
order stated in its function's docstring, so that a seed reproduces it and a
test can rebuild the matrix from the same draws.

Kernels are Numba-jitted on plain arrays; the public wrappers check their input
(ValueError naming the argument) so that the kernels can assume clean arrays.
"""

import math
import numbers

import numpy as np
from numba import njit

from simulator.checks import matrix

__all__ = [
    "tensorsketch_hashes",
    "tensorsketch",
    "countsketch_rows",
    "tensor_srht_params",
    "tensor_srht",
    "fwht_rows",
    "gaussian_kron",
]

# gaussian_kron: at most this many float64 entries per block of S (and of the
# Kronecker rows it multiplies), 32 MiB; a module constant so a test can shrink it.
_GAUSS_BLOCK_ENTRIES = 1 << 22


# --------------------------------------------------------------------------
# input checks (kernels sit below simulator/checks.py, so they keep their own)
# --------------------------------------------------------------------------

def _check_size(name, x, least=1):
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {least}, got {x!r}")
    x = int(x)
    if x < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {x}")
    return x


def _check_inputs(U, V, s):
    U = matrix("U", U)
    V = matrix("V", V)
    if U.shape != V.shape:
        raise ValueError(f"U and V must have the same shape (n, m), got U {U.shape} and V {V.shape}")
    if U.shape[1] < 1:
        raise ValueError(f"U and V need m >= 1 columns, got shape {U.shape}")
    s = _check_size("s", s)
    return U, V, s


def _signs(rng, size):
    # one documented way to draw ±1: b = rng.integers(0, 2, size), sign = 2b − 1
    return 2.0 * rng.integers(0, 2, size=size, dtype=np.int64).astype(np.float64) - 1.0


# --------------------------------------------------------------------------
# TensorSketch
# --------------------------------------------------------------------------

def tensorsketch_hashes(seed, m, s):
    """The two CountSketch hashes of `tensorsketch`: (h1, s1, h2, s2).

    h1, h2: int64 arrays of length m with values in [0, s); s1, s2: float64
    ±1 arrays of length m. Drawn from rng = np.random.default_rng(seed) in the
    order h1, s1, h2, s2, each as
        h = rng.integers(0, s, size=m, dtype=np.int64)
        sign = 2.0 * rng.integers(0, 2, size=m, dtype=np.int64) - 1.0
    (the four draws are independent; each is fully independent across [m]).
    O(m).
    """
    m = _check_size("m", m)
    s = _check_size("s", s)
    rng = np.random.default_rng(seed)
    h1 = rng.integers(0, s, size=m, dtype=np.int64)
    s1 = _signs(rng, m)
    h2 = rng.integers(0, s, size=m, dtype=np.int64)
    s2 = _signs(rng, m)
    return h1, s1, h2, s2


@njit(cache=True)
def countsketch_rows(X, h, sign, s):
    """CountSketch of every row of X (n, m): C[i, h[a]] += sign[a]·X[i, a].

    Returns (n, s) float64. Zeros are skipped, so the arithmetic is O(nnz(X));
    the scan that finds them is one comparison per entry, O(n·m)."""
    n, m = X.shape
    C = np.zeros((n, s))
    for i in range(n):
        for a in range(m):
            x = X[i, a]
            if x != 0.0:
                C[i, h[a]] += sign[a] * x
    return C


def tensorsketch(U, V, s, seed):
    """Row i = TensorSketch(u_i ⊗ v_i) ∈ R^s, for U, V (n, m); returns (n, s).

    = the CountSketch of u_i ⊗ v_i with hash (h1(a) + h2(b)) mod s and sign
    s1(a)·s2(b), (h1, s1, h2, s2) = tensorsketch_hashes(seed, m, s); unbiased,
    no scaling. Computed as IFFT(FFT(CS1(u_i)) ∘ FFT(CS2(v_i))), the circular
    convolution of the two factor sketches, never forming u_i ⊗ v_i.
    Cost O(n·(nnz(u) + nnz(v)) + n·s log s) arithmetic (+ an O(n·m) zero scan),
    O(n·s) memory.
    """
    U, V, s = _check_inputs(U, V, s)
    n, m = U.shape
    h1, s1, h2, s2 = tensorsketch_hashes(seed, m, s)
    C1 = countsketch_rows(U, h1, s1, s)
    C2 = countsketch_rows(V, h2, s2, s)
    # polynomial product mod z^s − 1: index k collects every (j1, j2) with
    # j1 + j2 ≡ k (mod s), i.e. every (a, b) with h1(a) + h2(b) ≡ k
    return np.fft.irfft(np.fft.rfft(C1, axis=1) * np.fft.rfft(C2, axis=1), n=s, axis=1)


# --------------------------------------------------------------------------
# TensorSRHT
# --------------------------------------------------------------------------

def tensor_srht_params(seed, m, s):
    """The random parts of `tensor_srht`: (D1, D2, I, J, M).

    M = the smallest power of two >= m (inputs are zero-padded to M). D1, D2:
    float64 ±1 arrays of length M; I, J: int64 arrays of length s, uniform on
    [0, M) with replacement. Drawn from rng = np.random.default_rng(seed) in
    the order D1, D2, I, J, each as
        D = 2.0 * rng.integers(0, 2, size=M, dtype=np.int64) - 1.0
        I = rng.integers(0, M, size=s, dtype=np.int64)
    O(M + s).
    """
    m = _check_size("m", m)
    s = _check_size("s", s)
    M = 1 << (m - 1).bit_length()
    rng = np.random.default_rng(seed)
    D1 = _signs(rng, M)
    D2 = _signs(rng, M)
    I = rng.integers(0, M, size=s, dtype=np.int64)
    J = rng.integers(0, M, size=s, dtype=np.int64)
    return D1, D2, I, J, M


@njit(cache=True, inline="always")
def _fwht_vec(x):
    # unnormalised Sylvester-ordered butterfly, in place: H_{2h} = [[H_h, H_h], [H_h, −H_h]],
    # so H[p, q] = (−1)^{popcount(p & q)}; len(x) must be a power of two
    N = x.shape[0]
    h = 1
    while h < N:
        for start in range(0, N, 2 * h):
            for j in range(start, start + h):
                a = x[j]
                b = x[j + h]
                x[j] = a + b
                x[j + h] = a - b
        h *= 2


@njit(cache=True)
def fwht_rows(A):
    """In place: every row of A (n, M) ← H·row, H the unnormalised M × M
    Walsh-Hadamard matrix in Sylvester order (M a power of two; the caller
    checks). O(n·M log M), no extra memory."""
    for i in range(A.shape[0]):
        _fwht_vec(A[i])


@njit(cache=True)
def _tensor_srht_rows(U, V, D1, D2, I, J, M, s):
    # per row: pad, sign, transform and gather each factor in an O(M) scratch
    # (no (n, M) temporaries), then the entrywise product
    n, m = U.shape
    out = np.zeros((n, s))
    x = np.empty(M)
    y = np.empty(M)
    scale = 1.0 / math.sqrt(s)
    for i in range(n):
        nzu = False
        nzv = False
        for a in range(m):
            x[a] = D1[a] * U[i, a]
            y[a] = D2[a] * V[i, a]
            nzu = nzu or U[i, a] != 0.0
            nzv = nzv or V[i, a] != 0.0
        if not (nzu and nzv):
            continue  # u ⊗ v = 0: the row stays zero, skip both transforms
        for a in range(m, M):
            x[a] = 0.0
            y[a] = 0.0
        _fwht_vec(x)
        _fwht_vec(y)
        for k in range(s):
            out[i, k] = scale * x[I[k]] * y[J[k]]
    return out


def tensor_srht(U, V, s, seed):
    """Row i = TensorSRHT(u_i ⊗ v_i) ∈ R^s, for U, V (n, m); returns (n, s).

    Entry k = (1/√s)·(H D1 ũ_i)[I_k]·(H D2 ṽ_i)[J_k] with (D1, D2, I, J, M) =
    tensor_srht_params(seed, m, s), H the unnormalised (±1) M × M Walsh-Hadamard
    matrix, ũ the zero padding to M. Unbiased: E⟨S(u⊗v), S(u'⊗v')⟩ =
    ⟨u, u'⟩⟨v, v'⟩. Cost O(n·(M log M + s)) (rows with u_i = 0 or v_i = 0 cost
    O(m)), O(n·s + M) memory.
    """
    U, V, s = _check_inputs(U, V, s)
    n, m = U.shape
    D1, D2, I, J, M = tensor_srht_params(seed, m, s)
    return _tensor_srht_rows(U, V, D1, D2, I, J, M, s)


# --------------------------------------------------------------------------
# dense Gaussian reference
# --------------------------------------------------------------------------

def gaussian_kron(U, V, s, seed, max_entries=2**28):
    """Row i = S·(u_i ⊗ v_i), S (s, m²) with i.i.d. N(0, 1/s) entries; (n, s).

    The dense reference, for small m. S is drawn from
    rng = np.random.default_rng(seed) column by column: for j = a·m + b =
    0, 1, ..., m² − 1 in order, S[:, j] = rng.standard_normal(s) / √s, i.e.
    S = rng.standard_normal((m*m, s)).T / √s. It is generated in blocks of
    consecutive columns (whole groups of m, one per a); successive
    standard_normal calls on one Generator continue the same stream, so the
    blocking does not change S. Neither S (s·m²) nor the Kronecker rows (n·m²)
    is held whole: each block multiplies its slice of the rows.
    Cost O(n·m²·s) time, O(max(n, s)·m) + the block memory. Unbiased.
    ValueError when s·m² > max_entries.
    """
    U, V, s = _check_inputs(U, V, s)
    max_entries = _check_size("max_entries", max_entries)
    n, m = U.shape
    if s * m * m > max_entries:
        raise ValueError(
            f"gaussian_kron is a dense reference for small m: s·m² = {s}·{m}² = {s * m * m} "
            f"exceeds max_entries = {max_entries} (m = {m}, s = {s})")
    rng = np.random.default_rng(seed)
    # A values of a per block: the block of S is (A·m, s), the Kronecker slice (n, A·m)
    A = max(1, min(m, _GAUSS_BLOCK_ENTRIES // (m * max(n, s))))
    out = np.zeros((n, s))
    for a0 in range(0, m, A):
        a1 = min(m, a0 + A)
        G = rng.standard_normal(((a1 - a0) * m, s))  # rows = columns a0·m … a1·m − 1 of √s·S
        K = (U[:, a0:a1, None] * V[:, None, :]).reshape(n, (a1 - a0) * m)
        out += K @ G
    return out / math.sqrt(s)
