"""Sketching kernels for the sublinear solver (seed 002, Algorithm 5 lines 15-21).

The solver needs B = S·A (s × n) with A = J_tᵀ (md × n) and S an oblivious
subspace embedding (seed 002 Def. 2.1) whose s is set as in Definition 5.2.
Neither A nor S is ever materialised in the fast path: column i of A has
nonzero blocks only at the fired neurons r ∈ S_i (block r = a_r x_i / √m), and
the column of S for coordinate (r, c) is regenerated on demand from a seeded
counter hash, so forming B[:, i] costs O(|S_i|·d·nnz) and nothing in m.

Sketch family (OSNAP, Nelson-Nguyen [13] of seed 002): the s rows are split
into nnz contiguous blocks; column j = r·d + c of S has exactly one nonzero in
each block k, at a hashed row, with value ±1/√nnz. Block k spans rows
[k·s // nnz, (k+1)·s // nnz), so when nnz does not divide s the blocks differ
in size by at most one row (every row is used, nothing is dropped).
CountSketch is OSNAP with nnz = 1.

Hash: splitmix64 (Steele, Lea, Flood 2014) evaluated at counters, offset by a
key derived from the seed; one 64-bit mix per two nonzeros of S. Column
j = r·d + c has P = ⌈nnz/2⌉ mixes H_t = mix(key + γ·(j·P + t + 1)), t < P;
nonzero k takes the 32-bit half x = (H_{⌊k/2⌋} >> 32·(k mod 2)) mod 2^32: its
top 31 bits pick the row inside block k (multiply-shift, no modulo bias
beyond 2^-31), its bit 0 the sign. (Until 2026-12-03 each nonzero had a mix of
its own; two per mix halve the mixes, and the sketch at 2^22 got 10-15 % faster.)

Dense references for small sizes: `osnap_matrix` (same hash), `gaussian_sketch`,
`srht_apply` (with `fwht`), `dense_jt`. `subspace_distortion` and
`subspace_distortion_gram` measure Def. 2.1's ε; `default_sketch_rows` is the
s the solver uses by default.
"""

import math

import numpy as np
from numba import njit, prange

__all__ = [
    "seed_key",
    "osnap_entry",
    "sketch_jt",
    "sketch_jt_work",
    "osnap_matrix",
    "dense_jt",
    "gaussian_sketch",
    "fwht",
    "srht_apply",
    "subspace_distortion",
    "subspace_distortion_gram",
    "default_sketch_rows",
    "DEFAULT_SKETCH_MARGIN",
]

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)


# --------------------------------------------------------------------------
# hash
# --------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _mix64(z):
    # splitmix64 finaliser; uint64 arithmetic wraps mod 2^64 in Numba.
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _mixed(key, ctr):
    """The mix of counter ctr: splitmix64 of key + γ·(ctr + 1)."""
    return _mix64(key + _GOLDEN * np.uint64(ctr + 1))


@njit(cache=True, inline="always")
def _half(H, half, lo, size):
    """Row in [lo, lo + size) and sign from 32-bit half `half` (0 low, 1 high) of the mix H."""
    x = (H >> (_S32 * np.uint64(half))) & _LOW32
    # multiply-shift maps the top 31 bits of the half uniformly onto [0, size)
    return lo + np.int64(((x >> _ONE) * size) >> _S31), 1.0 - 2.0 * np.float64(x & _ONE)


@njit(cache=True, inline="always")
def _entry(key, j, k, lo, size):
    """Row and sign of the k-th nonzero of column j; block k of the rows is [lo[k], lo[k] + size[k])."""
    mixes = (lo.shape[0] + 1) // 2
    return _half(_mixed(key, j * mixes + k // 2), k % 2, lo[k], size[k])


def _blocks(s, nnz):
    # OSNAP row blocks, precomputed so the inner loop has no integer division.
    lo = np.array([(k * s) // nnz for k in range(nnz + 1)], dtype=np.int64)
    return lo[:-1].copy(), np.diff(lo).astype(np.uint64)


def seed_key(seed):
    """64-bit hash key for an integer seed (its splitmix64 image, so that
    consecutive seeds give unrelated sketches).

    Derive `seed` from the run's SeedSequence, e.g.
    ``int(ss.generate_state(1, np.uint64)[0])``; a new seed per iteration gives
    a fresh S per iteration as Algorithm 5 line 15 does.
    """
    z = (int(seed) + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return np.uint64(z ^ (z >> 31))


@njit(cache=True)
def _osnap_entry_kernel(key, r, c, k, d, nnz, lo, size):
    return _entry(key, r * d + c, k, lo, size)


def osnap_entry(seed, r, c, k, d, s, nnz):
    """(row, sign) of the k-th nonzero of S's column for coordinate (r, c).

    The value of that entry is sign / √nnz. Exposed for tests and debugging.
    """
    if not (0 <= k < nnz <= s):
        raise ValueError("need 0 <= k < nnz <= s")
    lo, size = _blocks(int(s), int(nnz))
    row, sign = _osnap_entry_kernel(seed_key(seed), np.int64(r), np.int64(c),
                                    np.int64(k), np.int64(d), np.int64(nnz),
                                    lo, size)
    return int(row), float(sign)


# --------------------------------------------------------------------------
# fast path: B = S·A from fire sets
# --------------------------------------------------------------------------

@njit(cache=True)
def _sketch_col(Bt, i, indptr, indices, a_pairs, X, key, lo, size, scale):
    # B[:, i] = S (D_i ⊗ I_d) A[:, i]  (Algorithm 5 line 21); only r ∈ S_i
    # contribute, block r of A[:, i] is a_r x_i / √m (a_r = a_pairs[p] for r = indices[p]).
    d = X.shape[1]
    nnz = lo.shape[0]
    P = (nnz + 1) // 2  # mixes per column
    T = d * P  # mixes per neuron: its counters r·T … r·T + T − 1
    # Mix t = c·P + h of a neuron gives nonzeros k = 2h (low half) and 2h + 1 (high half) of column c (no high
    # one when 2h + 1 = nnz). So the T mixes are one loop over consecutive counters with per-mix tables of
    # block and value — a loop the compiler vectorises — and then the scatter-adds, mix by mix, low half
    # first: the (c, k) order of entry by entry (the same B, bit for bit).
    lo0 = np.empty(T, dtype=np.int64)
    lo1 = np.empty(T, dtype=np.int64)
    size0 = np.empty(T, dtype=np.uint32)  # 32-bit: the multiply-shift is a 32 × 32-bit product
    size1 = np.empty(T, dtype=np.uint32)
    xr = np.empty(T)
    for t in range(T):
        k = 2 * (t % P)
        k1 = min(k + 1, nnz - 1)
        lo0[t], size0[t], lo1[t], size1[t] = lo[k], np.uint32(size[k]), lo[k1], np.uint32(size[k1])
        xr[t] = X[i, t // P]
    odd = nnz % 2 == 1  # then the last mix of each column has only its low half
    rows0 = np.empty(T, dtype=np.int64)
    rows1 = np.empty(T, dtype=np.int64)
    signs0 = np.empty(T)
    signs1 = np.empty(T)
    b = Bt[i]
    for p in range(indptr[i], indptr[i + 1]):
        base = indices[p] * T
        for t in range(T):
            H = _mixed(key, base + t)
            rows0[t], signs0[t] = _half(H, 0, lo0[t], np.uint64(size0[t]))
            rows1[t], signs1[t] = _half(H, 1, lo1[t], np.uint64(size1[t]))
        ar = a_pairs[p] * scale
        for t in range(T):
            v = ar * xr[t]
            b[rows0[t]] += signs0[t] * v
            if not (odd and t % P == P - 1):
                b[rows1[t]] += signs1[t] * v


@njit(cache=True, parallel=True)
def _sketch_jt_par(indptr, indices, a_pairs, X, key, s, lo, size, scale):
    n = X.shape[0]
    # (n, s) buffer: each thread owns whole contiguous rows, no false sharing.
    Bt = np.zeros((n, s))
    for i in prange(n):
        _sketch_col(Bt, i, indptr, indices, a_pairs, X, key, lo, size, scale)
    return Bt


@njit(cache=True)
def _sketch_jt_seq(indptr, indices, a_pairs, X, key, s, lo, size, scale):
    n = X.shape[0]
    Bt = np.zeros((n, s))
    for i in range(n):
        _sketch_col(Bt, i, indptr, indices, a_pairs, X, key, lo, size, scale)
    return Bt


def _check_fire_sets(indptr, indices, a, X, m):
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    a = np.ascontiguousarray(a, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
    n = X.shape[0]
    if indptr.shape != (n + 1,):
        raise ValueError(f"indptr must have shape ({n + 1},), got {indptr.shape}")
    if a.shape != (m,):
        raise ValueError(f"a must have shape ({m},), got {a.shape}")
    if indptr[0] < 0 or indptr[-1] > indices.shape[0] or np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must be non-decreasing within [0, len(indices)]")
    used = indices[indptr[0]:indptr[-1]]
    if used.size and (used.min() < 0 or used.max() >= m):
        raise ValueError(f"fire-set neuron ids must lie in [0, {m})")
    return indptr, indices, a, X


def sketch_jt(indptr, indices, a, X, m, s, nnz, seed, parallel=False, a_pairs=None):
    """B = S·Jᵀ (s × n) from the fire sets, S an OSNAP sketch generated on the fly.

    Seed 002, Algorithm 5 lines 15-21: B[:, i] = S (D_i ⊗ I_d) A[:, i] with
    A = Jᵀ, whose column i has block r = a_r x_i / √m for r ∈ S_i and zero
    elsewhere. Cost O(Σ_i |S_i|·d·nnz) hash evaluations and scatter-adds (see
    `sketch_jt_work`); no work or memory proportional to m or md.

    Parameters
    ----------
    indptr : (n+1,) int64, indices : int64
        CSR fire sets: S_i = indices[indptr[i]:indptr[i+1]] (order irrelevant).
    a : (m,) float64, second-layer signs.
    X : (n, d) float64, unit-norm data rows.
    m, s, nnz : width, sketch rows, nonzeros per column of S (1 = CountSketch).
    seed : int, selects S (same seed ⇒ same S; see `seed_key`).
    parallel : bool, prange over the n columns (independent, no races; each
        column is summed by one thread in the same order, so B is the same
        bits either way). At m = 2^22, n = 16, s = 15112 on this project's
        2-vCPU VM: 84-87 ms on one thread, 44-57 ms on two (the solver turns
        them on from `regression.PARALLEL_SKETCH` scatter-adds).
    a_pairs : optional float64 aligned with indices, a_pairs[p] = a[indices[p]],
        from a caller that has them in order (the tree index: a in leaf-slot
        order); otherwise gathered here — a read of a at each fired neuron,
        spread over all m entries, was a quarter of the sketch at 2^22.

    Returns
    -------
    B : (s, n) float64, Fortran-ordered (each column contiguous); equal to
        ``osnap_matrix(m, d, s, nnz, seed) @ dense_jt(indptr, indices, a, X, m)``.
    """
    m, s, nnz = int(m), int(s), int(nnz)
    if not (1 <= nnz <= s):
        raise ValueError(f"need 1 <= nnz <= s, got nnz={nnz}, s={s}")
    if s >= 1 << 32:
        raise ValueError("s must be < 2^32")
    indptr, indices, a, X = _check_fire_sets(indptr, indices, a, X, m)
    if a_pairs is None:
        a_pairs = a[indices]
    else:
        a_pairs = np.ascontiguousarray(a_pairs, dtype=np.float64)
        if a_pairs.shape != indices.shape:
            raise ValueError(f"a_pairs must have shape {indices.shape} (one per fire pair), got {a_pairs.shape}")
    kern = _sketch_jt_par if parallel else _sketch_jt_seq
    lo, size = _blocks(s, nnz)
    Bt = kern(indptr, indices, a_pairs, X, seed_key(seed), np.int64(s), lo, size,
              1.0 / math.sqrt(m) / math.sqrt(nnz))
    return Bt.T


def sketch_jt_work(indptr, d, nnz):
    """Hash evaluations (= scatter-adds) `sketch_jt` performs: Σ_i |S_i|·d·nnz."""
    indptr = np.asarray(indptr)
    return int(indptr[-1] - indptr[0]) * int(d) * int(nnz)


# --------------------------------------------------------------------------
# dense references (small sizes only)
# --------------------------------------------------------------------------

@njit(cache=True)
def _osnap_dense(key, m, d, s, lo, size):
    S = np.zeros((s, m * d))
    nnz = lo.shape[0]
    v = 1.0 / np.sqrt(nnz)
    for j in range(m * d):
        for k in range(nnz):
            row, sign = _entry(key, j, k, lo, size)
            S[row, j] = sign * v
    return S


def osnap_matrix(m, d, s, nnz, seed):
    """Dense S (s × md) of the OSNAP sketch `sketch_jt` uses, from the same hash.

    Column j = r·d + c (coordinate c of neuron r's block) has one ±1/√nnz
    entry in each of the nnz row blocks. O(s·md) memory: small sizes only.
    """
    m, d, s, nnz = int(m), int(d), int(s), int(nnz)
    if not (1 <= nnz <= s):
        raise ValueError(f"need 1 <= nnz <= s, got nnz={nnz}, s={s}")
    lo, size = _blocks(s, nnz)
    return _osnap_dense(seed_key(seed), np.int64(m), np.int64(d), np.int64(s), lo, size)


@njit(cache=True)
def _dense_jt(indptr, indices, a, X, m):
    n, d = X.shape
    A = np.zeros((m * d, n))
    scale = 1.0 / np.sqrt(m)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            for c in range(d):
                A[r * d + c, i] = a[r] * scale * X[i, c]
    return A


def dense_jt(indptr, indices, a, X, m):
    """A = J_tᵀ (md × n) built densely: block r of column i is a_r x_i/√m if
    r ∈ S_i (docs/theory.md §1). O(mdn) memory: references and small sizes only."""
    m = int(m)
    indptr, indices, a, X = _check_fire_sets(indptr, indices, a, X, m)
    return _dense_jt(indptr, indices, a, X, np.int64(m))


def gaussian_sketch(s, N, rng):
    """Dense Gaussian sketch (s × N), entries iid N(0, 1/s). Reference only."""
    return rng.standard_normal((int(s), int(N))) / math.sqrt(s)


@njit(cache=True)
def _fwht_inplace(M):
    # Sylvester-ordered butterfly over axis 0: H_{2h} = [[H_h, H_h], [H_h, -H_h]].
    N, k = M.shape
    h = 1
    while h < N:
        for start in range(0, N, 2 * h):
            for j in range(start, start + h):
                for c in range(k):
                    x = M[j, c]
                    y = M[j + h, c]
                    M[j, c] = x + y
                    M[j + h, c] = x - y
        h *= 2


def fwht(M):
    """Unnormalised fast Walsh-Hadamard transform along axis 0: returns H @ M,
    H the Sylvester Hadamard matrix (= scipy.linalg.hadamard(N)). N must be a
    power of two; M is (N,) or (N, k). O(N log N · k)."""
    M = np.array(M, dtype=np.float64, copy=True)
    vec = M.ndim == 1
    if vec:
        M = M[:, None]
    N = M.shape[0]
    if N < 1 or N & (N - 1):
        raise ValueError(f"length {N} is not a power of two")
    M = np.ascontiguousarray(M)
    _fwht_inplace(M)
    return M[:, 0] if vec else M


def srht_apply(M, s, rng):
    """Subsampled randomised Hadamard transform of a dense (N, k) matrix: S·M.

    S = √(N_pad/s) · P · (H/√N_pad) · D with N padded with zero rows to the
    next power of two N_pad, D random ±1 signs, H the Walsh-Hadamard matrix
    and P s rows sampled uniformly (without replacement when s ≤ N_pad, with
    replacement otherwise). Returns (s, k). Reference only (seed 003's sketch).
    """
    M = np.asarray(M, dtype=np.float64)
    vec = M.ndim == 1
    if vec:
        M = M[:, None]
    N, k = M.shape
    s = int(s)
    Np = 1 << max(0, (N - 1).bit_length())
    Z = np.zeros((Np, k))
    Z[:N] = M * rng.choice(np.array([-1.0, 1.0]), size=N)[:, None]
    Z = fwht(Z)
    rows = rng.choice(Np, size=s, replace=s > Np)
    out = Z[rows] / math.sqrt(s)  # √(Np/s)·(1/√Np)
    return out[:, 0] if vec else out


# --------------------------------------------------------------------------
# sketch quality (Def. 2.1) and the default s (Def. 5.2)
# --------------------------------------------------------------------------

def subspace_distortion(SU):
    """‖I − (SU)ᵀ(SU)‖₂ for U with orthonormal columns (seed 002 Def. 2.1's ε)."""
    SU = np.asarray(SU, dtype=np.float64)
    k = SU.shape[1]
    E = np.eye(k) - SU.T @ SU
    return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (E + E.T))))) if k else 0.0


def subspace_distortion_gram(B, G, rtol=1e-10):
    """Def. 2.1's ε for B = S·A, from B and the Gram G = AᵀA alone (O(n³), no m).

    With G = V Λ Vᵀ, U = A V Λ^{-1/2} (eigenvalues above rtol·λ_max) is an
    orthonormal basis of range(A), so S·U = B V Λ^{-1/2}. Lets the solver
    report the measured ε each iteration using the exact Gram (docs/theory.md §1).
    """
    B = np.asarray(B, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    lam, V = np.linalg.eigh(0.5 * (G + G.T))
    if lam.size == 0 or lam[-1] <= 0:
        return 0.0
    keep = lam > rtol * lam[-1]
    return subspace_distortion(B @ (V[:, keep] / np.sqrt(lam[keep])))


# Additive margin t in default_sketch_rows (see its docstring for the measurements).
DEFAULT_SKETCH_MARGIN = 2.0


def default_sketch_rows(n, eps=0.1, nnz=4, const=1.0, margin=DEFAULT_SKETCH_MARGIN):
    """Default sketch size s (seed 002 Def. 5.2: s = n·poly(1/ε, log(n/δ))).

    Form:   s = ceil(const · ((√n + margin) / (√(1+ε) − 1))²),
    rounded up to a multiple of nnz (equal OSNAP blocks). For ε = 0.1 this is
    ≈ 420·(√n + 2)², i.e. ≈ 4.2·n/ε² for large n.

    Why: for a Gaussian s×n sketch of an n-dim subspace the singular values of
    S·U lie in 1 ± (√n + t)/√s except with probability 2e^{−t²/2}
    (Davidson-Szarek), and |σ² − 1| ≤ ε iff the deviation u ≤ √(1+ε) − 1, so
    s = ((√n + t)/(√(1+ε) − 1))² gives ε-distortion (Def. 2.1); t plays the
    role of log(1/δ_sketch). That concentration bound is loose: the exact
    Wishart tail (Dumitriu-Edelman bidiagonal model) needs only t ≈ 1.25 for
    P(ε > 0.1) ≤ 10⁻³ at every n in 1..128, and t ≈ 1.7 for ≤ 10⁻⁴ at n = 1
    (the worst n). margin = 2 keeps the failure rate per sketch ≲ 10⁻⁵.
    OSNAP and CountSketch on range(Jᵀ) matched the Gaussian figures on the
    solver's problem shape (m = 4096, d = 16, b = √(0.48 ln m), n = 1..64):
    max ε over 100 seeds ≤ 0.085. This relies on range(Jᵀ) having low
    coherence (each point fires many neurons); with tiny fire sets
    CountSketch needs more rows (worst case s ~ n²/(ε²δ)) — raise const.

    Cost of s: only B's memory and the regression's QR (O(s·n²)) grow with s;
    `sketch_jt` itself costs O(Σ|S_i|·d·nnz), independent of s.
    """
    n = int(n)
    if n < 1:
        raise ValueError("n must be >= 1")
    if not (0.0 < eps < 1.0) or const <= 0 or margin < 0:
        raise ValueError("need 0 < eps < 1, const > 0, margin >= 0")
    u = math.sqrt(1.0 + eps) - 1.0
    s = math.ceil(const * ((math.sqrt(n) + margin) / u) ** 2)
    nnz = max(1, int(nnz))
    return int(-(-s // nnz) * nnz)
