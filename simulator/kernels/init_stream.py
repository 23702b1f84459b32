"""W0 and a from a counter-based generator: any row regenerated exactly, in any order, on any core.

The two-layer model's initial weights are defined entry by entry (docs/theory.md §11):

    w_{r,j}(0) = normal(key_w, r·d + j),   a_r = sign(key_a, r),

where `normal(key, c)` is a standard normal drawn by the ziggurat method (Marsaglia & Tsang 2000, 256
layers, in the 64-bit layout of NumPy's `Generator`; the tables are built here from r and Marsaglia's 12-digit
v, so they differ from NumPy's in the tenth digit and the draws are not NumPy's) from the SplitMix64 stream
of entry c: its first 64-bit word is mix(key + c·γ), further words (needed by ~1.4 % of entries, rejected
by the ziggurat's first try)
mix(s + k·γ) with s that first word and k = 1, 2, … . SplitMix64's `mix` is a bijection of 64-bit words,
so distinct entries start from distinct words. Nothing here has state: a block of rows is the same
whichever thread, process or order computes it, and W0 (256 GiB at m = 2^30, d = 32) need never be held.

`active_init` is the streamed Init of the active-set index (indexes/active.py): one pass over W0 in
chunks, on every Numba thread, that counts per neuron the points it fires on and accumulates W0ᵀW0 (for
‖W0‖₂, Lemma 4.2), then a second pass over the neurons that fire somewhere (regenerated, ~1–5 % of m)
that writes their rows, signs, leaves and fire sets. Sums are taken over fixed sub-blocks in a fixed
order, so every result is bit-identical for any number of threads and any chunk size.
"""

import math

import numpy as np
from numba import njit, prange

from simulator.kernels.jacobian import points_above

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment (the golden ratio in 64 bits)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

#: the name recorded in traces (attr init_generator); change it whenever a value here could change
GENERATOR = "splitmix64-ziggurat256-v1"

#: the ziggurat's base strip: r (start of the tail) and v (area of each of the 256 layers)
ZIG_R = 3.6541528853610088
ZIG_V = 0.00492867323399


def ziggurat_tables(r=ZIG_R, v=ZIG_V):
    """(ki, wi, fi) of the 256-layer ziggurat in the layout of NumPy's `Generator`: layer 0 is the base strip with the
    tail, layer i ≥ 1 spans x ∈ [0, X_i] (X_255 = r, X_{i−1} = f⁻¹(f(X_i) + v/X_i), f(x) = e^{−x²/2});
    a 52-bit magnitude k is accepted outright when k < ki[idx], giving x = k·wi[idx]."""
    def f(x):
        return math.exp(-0.5 * x * x)

    # NumPy's `Generator` uses the same layout with v = 0.004928673233974655 (the v that r implies exactly);
    # Marsaglia's rounded v makes the top layer's area v·(1 − 10⁻⁹): far below anything a test can see

    X = np.zeros(256)
    X[255] = r
    for i in range(255, 1, -1):
        X[i - 1] = math.sqrt(-2.0 * math.log(f(X[i]) + v / X[i]))
    two52 = 2.0 ** 52
    ki = np.zeros(256, dtype=np.uint64)
    wi = np.zeros(256)
    fi = np.zeros(256)
    wi[0], fi[0] = v / f(r) / two52, 1.0
    ki[0] = np.uint64(math.floor(r * f(r) / v * two52))
    for i in range(1, 256):
        wi[i], fi[i] = X[i] / two52, f(X[i])
        ki[i] = np.uint64(math.floor(X[i - 1] / X[i] * two52)) if i >= 2 else np.uint64(0)
    return ki, wi, fi


_KI, _WI, _FI = ziggurat_tables()


@njit(inline="always")
def _mix(z):
    """SplitMix64's output function: a bijection of 64-bit words with good avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _unit(x):
    """A 64-bit word as a double in [0, 1) (its top 53 bits)."""
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _normal_slow(key, s, ki, wi, fi):
    """The ziggurat from its first word s on (the ~1.4 % of entries its first try rejects): out of line, so
    the fast path stays small."""
    k = np.uint64(0)
    word = s
    while True:
        idx = np.int64(word & np.uint64(0xFF))
        word >>= np.uint64(8)
        neg = (word & np.uint64(1)) != np.uint64(0)
        mag = (word >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        x = np.float64(mag) * wi[idx]
        if neg:
            x = -x
        if mag < ki[idx]:
            return x
        if idx == 0:  # the tail beyond r (Marsaglia's method)
            while True:
                k += np.uint64(1)
                xx = -(1.0 / ZIG_R) * math.log1p(-_unit(_mix(s + k * _GAMMA)))
                k += np.uint64(1)
                yy = -math.log1p(-_unit(_mix(s + k * _GAMMA)))
                if yy + yy > xx * xx:
                    return -(ZIG_R + xx) if neg else ZIG_R + xx
        else:  # the wedge of layer idx
            k += np.uint64(1)
            if (fi[idx - 1] - fi[idx]) * _unit(_mix(s + k * _GAMMA)) + fi[idx] < math.exp(-0.5 * x * x):
                return x
        k += np.uint64(1)
        word = _mix(s + k * _GAMMA)


@njit(inline="always")
def _normal(key, c, ki, wi, fi):
    """Standard normal number c of the stream `key` (ziggurat; see the module docstring). The first try is
    written out here (layer = bits 0–7, sign = bit 8, magnitude = bits 9–60 of the word; ki < 2^52, so the
    signed compare and conversion are exact); the rest is `_normal_slow`, which repeats it and goes on."""
    s = _mix(key + np.uint64(c) * _GAMMA)
    idx = np.int64(s & np.uint64(0xFF))
    mag = np.int64((s >> np.uint64(9)) & np.uint64(0x000FFFFFFFFFFFFF))
    if mag < np.int64(ki[idx]):
        x = np.float64(mag) * wi[idx]
        return -x if (s >> np.uint64(8)) & np.uint64(1) else x
    return _normal_slow(key, s, ki, wi, fi)


@njit(inline="always")
def _sign(key, r):
    """a_r ∈ {−1, +1}: the top bit of word r of the stream `key`."""
    return 1.0 if (_mix(key + np.uint64(r) * _GAMMA) >> np.uint64(63)) != np.uint64(0) else -1.0


@njit(inline="always")
def _fill_row(key, r, d, out, ki, wi, fi):
    base = r * d
    for j in range(d):
        out[j] = _normal(key, base + j, ki, wi, fi)


@njit(inline="always")
def _leaves(w, XT, out):
    """out_i = <w, x_i> from XT = Xᵀ (d, n), summed over j in order — per point its own sum, so the loop over
    points vectorises without reordering a sum; both passes of `active_init` use it, so they agree bitwise."""
    for i in range(XT.shape[1]):
        out[i] = 0.0
    for j in range(w.shape[0]):
        wj = w[j]
        for i in range(XT.shape[1]):
            out[i] += wj * XT[j, i]


@njit(inline="always")
def _leaves4(W, r, XT, U):
    """`_leaves` of rows r … r+3 of W into U (4, n), bit for bit (each row's sum over j in the same order), the
    four rows' sums interleaved: one row's sums form a chain through memory that waits on itself at every j,
    four independent chains overlap (0.19 → 0.12 s per 2^20 rows at n = 16, d = 32)."""
    d, n = XT.shape
    for q in range(4):
        for i in range(n):
            U[q, i] = 0.0
    for j in range(d):
        x = XT[j]
        a0, a1, a2, a3 = W[r, j], W[r + 1, j], W[r + 2, j], W[r + 3, j]
        for i in range(n):
            xi = x[i]
            U[0, i] += a0 * xi
            U[1, i] += a1 * xi
            U[2, i] += a2 * xi
            U[3, i] += a3 * xi


@njit(parallel=True, cache=True)
def normals(key, start, count, ki, wi, fi):
    """Numbers start … start+count−1 of the stream `key` (flat; a block of W0 is `rows`)."""
    out = np.empty(count)
    for c in prange(count):
        out[c] = _normal(key, start + c, ki, wi, fi)
    return out


@njit(parallel=True, cache=True)
def rows(key, ids, d, ki, wi, fi):
    """Rows ids of W0 (len(ids), d), any ids, any order."""
    out = np.empty((ids.shape[0], d))
    for q in prange(ids.shape[0]):
        _fill_row(key, ids[q], d, out[q], ki, wi, fi)
    return out


@njit(parallel=True, cache=True)
def row_block(key, lo, hi, d, ki, wi, fi):
    """Rows lo … hi−1 of W0 (hi − lo, d)."""
    out = np.empty((hi - lo, d))
    for q in prange(hi - lo):
        _fill_row(key, lo + q, d, out[q], ki, wi, fi)
    return out


@njit(parallel=True, cache=True)
def signs(key, ids):
    """a_r for r in ids."""
    out = np.empty(ids.shape[0])
    for q in prange(ids.shape[0]):
        out[q] = _sign(key, ids[q])
    return out


#: neurons per sub-block: the unit of the fixed-order sums (a thread's share of a chunk is whole sub-blocks)
SUB = 4096
#: neurons per chunk of `active_init` (its per-chunk scratch: a fire count per neuron and a d × d sum per sub-block)
CHUNK = 1 << 22


@njit(parallel=True, cache=True)
def _scan(key, lo, hi, XT, b, d, counts, partial, want_gram, ki, wi, fi):
    """Pass 1 over rows lo … hi−1: counts[r − lo] = #{i : <w_r, x_i> > b}; with want_gram, partial[s] = Σ w_r w_rᵀ
    over sub-block s (rows lo + s·SUB …)."""
    n = XT.shape[1]
    nsub = (hi - lo + SUB - 1) // SUB
    for s in prange(nsub):
        r0, r1 = lo + s * SUB, min(hi, lo + (s + 1) * SUB)
        # the sub-block's rows (not a per-thread scratch: numba.get_thread_id() makes the cached kernel take
        # 0.7 s to load, and after the first free glibc serves a block of this size from the heap)
        Wb = np.empty((r1 - r0, d))
        for r in range(r0, r1):
            _fill_row(key, r, d, Wb[r - r0], ki, wi, fi)
        U = np.empty((4, n))
        r = 0
        while r < r1 - r0:
            rows = min(4, r1 - r0 - r)
            if rows == 4:
                _leaves4(Wb, r, XT, U)
            else:
                for q in range(rows):
                    _leaves(Wb[r + q], XT, U[q])
            for q in range(rows):
                c = 0
                for i in range(n):
                    if U[q, i] > b:
                        c += 1
                counts[r0 + r + q - lo] = c
            r += rows
        if want_gram:
            partial[s] = _block_gram(Wb)


@njit(fastmath={"contract"}, cache=True)
def _block_gram(Wb):
    """Σ_r w_r w_rᵀ over the rows of Wb, four rows per pass over the d × d sum (a rank-4 update loads and stores
    each entry once for four products); the full square, so it is exactly symmetric (entry (j, c) and (c, j) are
    the same products in the same order). Its own kernel so that it alone may fuse multiply-adds (`contract`,
    0.79 → 0.46 s per 2^22 rows at d = 32 on one core): every caller sums through it, so the held and the
    streamed Init still agree bit for bit, while the leaves around it keep their separate multiply and add."""
    k, d = Wb.shape
    P = np.zeros((d, d))
    r = 0
    while r + 4 <= k:
        a0, a1, a2, a3 = Wb[r], Wb[r + 1], Wb[r + 2], Wb[r + 3]
        for j in range(d):
            b0, b1, b2, b3 = a0[j], a1[j], a2[j], a3[j]
            for c in range(d):
                P[j, c] += b0 * a0[c] + b1 * a1[c] + b2 * a2[c] + b3 * a3[c]
        r += 4
    while r < k:
        a0 = Wb[r]
        for j in range(d):
            b0 = a0[j]
            for c in range(d):
                P[j, c] += b0 * a0[c]
        r += 1
    return P


@njit(cache=True)
def _offsets(counts):
    """Positions of the active neurons of a chunk: (pos, kptr) with pos[r] the row of neuron lo + r in the
    chunk's active set (−1 if it fires nowhere) and kptr its neuron-major CSR pointer."""
    m = counts.shape[0]
    pos = np.empty(m, dtype=np.int64)
    k = 0
    for r in range(m):
        if counts[r] > 0:
            pos[r] = k
            k += 1
        else:
            pos[r] = -1
    kptr = np.zeros(k + 1, dtype=np.int64)
    for r in range(m):
        if pos[r] >= 0:
            kptr[pos[r] + 1] = kptr[pos[r]] + counts[r]
    return pos, kptr


@njit(parallel=True, cache=True)
def _gather(key, key_a, lo, XT, b, d, pos, kptr, ki, wi, fi):
    """Pass 2: for the neurons of the chunk that fire somewhere, (ids, kpts, leaves, rows, signs)."""
    n = XT.shape[1]
    k = kptr.shape[0] - 1
    K = np.empty(k, dtype=np.int64)
    kpts = np.empty(kptr[k], dtype=np.int64)
    LK = np.empty((k, n))
    WK = np.empty((k, d))
    aK = np.empty(k)
    nsub = (pos.shape[0] + SUB - 1) // SUB
    for s in prange(nsub):
        for r in range(s * SUB, min(pos.shape[0], (s + 1) * SUB)):
            q = pos[r]
            if q < 0:
                continue
            K[q] = lo + r
            _fill_row(key, lo + r, d, WK[q], ki, wi, fi)
            aK[q] = _sign(key_a, lo + r)
    # leaves four rows at a time (`_leaves4`: the same bits as pass 1's), then each neuron's points
    for g in prange((k + 3) // 4):
        q0 = 4 * g
        if q0 + 4 <= k:
            _leaves4(WK, q0, XT, LK[q0:q0 + 4])
        else:
            for q in range(q0, k):
                _leaves(WK[q], XT, LK[q])
        for q in range(q0, min(k, q0 + 4)):
            points_above(LK[q], b, kpts, kptr[q])
    return K, kpts, LK, WK, aK


#: n·d from which the Init computes the leaves with one BLAS product per block of rows instead of the per-neuron
#: loop (at n = 300, d = 400 the loop is ~7× slower than OpenBLAS; below, generation dominates and the loop wins)
BLAS_LEAVES = 4096
#: bytes of rows per block on the BLAS path
BLAS_BLOCK_BYTES = 32 << 20


@njit(parallel=True, cache=True)
def _blocks_gram(Wc):
    """Σ w_r w_rᵀ per sub-block of SUB rows of Wc (nsub, d, d), each by `_block_gram` (the same sums as `_scan`)."""
    nsub = (Wc.shape[0] + SUB - 1) // SUB
    out = np.empty((nsub, Wc.shape[1], Wc.shape[1]))
    for s in prange(nsub):
        out[s] = _block_gram(Wc[s * SUB:min(Wc.shape[0], (s + 1) * SUB)])
    return out


def _active_init_blas(key_w, key_a, XT, b, m, d, chunk, want_gram, progress, W0):
    """`active_init` for large n·d: rows generated block by block (both cores; or read from a held W0), their
    leaves by one BLAS product per block, nothing regenerated; W0ᵀW0 from the same fixed sub-blocks as the loop
    path (the same bits)."""
    rows = max(SUB, min(chunk, BLAS_BLOCK_BYTES // (8 * max(d, XT.shape[1]))) // SUB * SUB)
    G = np.zeros((d, d))
    parts = []
    for lo in range(0, m, rows):
        hi = min(m, lo + rows)
        Wc = W0[lo:hi] if W0 is not None else row_block(key_w, lo, hi, d, _KI, _WI, _FI)
        if want_gram:
            for P in _blocks_gram(Wc):  # in order, sub-block by sub-block
                G += P
        U = Wc @ XT
        fires = U > b
        counts = np.count_nonzero(fires, axis=1)
        act = np.flatnonzero(counts)
        Kb = (lo + act).astype(np.int64)
        parts.append((Kb, counts[act], np.nonzero(fires[act])[1], U[act], Wc[act], a_signs(key_a, Kb)))
        if progress is not None:
            progress(hi, m)
    return _join(parts, XT.shape[1], d) + (G if want_gram else None,)


def _join(parts, n, d):
    """One active set from per-block pieces (K, fire counts, kpts, LK, WK, aK), blocks in neuron order:
    (K, kptr, kpts, LK, WK, aK)."""
    if not parts:
        e = np.empty(0, dtype=np.int64)
        return e, np.zeros(1, dtype=np.int64), e, np.empty((0, n)), np.empty((0, d)), np.empty(0)
    K, counts, kpts, LK, WK, aK = (np.concatenate([p[j] for p in parts]) if len(parts) > 1 else parts[0][j]
                                   for j in range(6))
    kptr = np.zeros(K.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=kptr[1:])
    return K, kptr, kpts.astype(np.int64, copy=False), LK, WK, aK


#: how far below b a BLAS leaf may lie and its neuron still be a candidate of the held Init (see there): BLAS sums
#: in its own order, |BLAS − in-order sum| ≤ d·ε·Σ_j|w_j x_j| ≈ 1e-14 at the sizes run here, far below this
CANDIDATE_MARGIN = 1e-6


@njit(cache=True)
def _screen(U, threshold, lo, out):
    """The rows lo + r of a block whose BLAS leaves U[r] exceed `threshold` somewhere, into out; returns how many."""
    n = U.shape[1]
    k = 0
    for r in range(U.shape[0]):
        hit = False
        for i in range(n):
            hit |= U[r, i] > threshold
        out[k] = lo + r
        k += hit
    return k


@njit(cache=True)
def _held_gather(W0, cand, key_a, XT, b):
    """K_0 from its candidates (ascending ids): their rows of W0, their leaves summed as the streamed Init sums
    them (`_leaves4`/`_leaves`), and of those that fire at b the points, signs and all, compacted in place:
    (K, kptr, kpts, LK, WK, aK) as `_join` gives them."""
    n = XT.shape[1]
    c = cand.shape[0]
    WK = np.empty((c, W0.shape[1]))
    LK = np.empty((c, n))
    for q in range(c):
        WK[q] = W0[cand[q]]
    q = 0
    while q + 4 <= c:
        _leaves4(WK, q, XT, LK[q:q + 4])
        q += 4
    while q < c:
        _leaves(WK[q], XT, LK[q])
        q += 1
    K = np.empty(c, dtype=np.int64)
    aK = np.empty(c)
    kptr = np.zeros(c + 1, dtype=np.int64)
    kpts = np.empty(c * n, dtype=np.int64)
    k = 0
    p = 0
    for q in range(c):
        start = p
        p = points_above(LK[q], b, kpts, p)
        if p > start:  # a candidate that fires nowhere at b (it came within the margin) is dropped
            K[k] = cand[q]
            if k < q:
                WK[k] = WK[q]
                LK[k] = LK[q]
            aK[k] = _sign(key_a, cand[q])
            k += 1
            kptr[k] = p
    return K[:k], kptr[:k + 1], kpts[:p].copy(), LK[:k], WK[:k], aK[:k]


def _active_init_held(W0, key_a, XT, b, chunk, want_gram, progress):
    """`active_init` from a W0 the caller holds (nothing generated), the same outputs bit for bit as the streamed
    pass: one BLAS product per block of rows screens for the candidates, the neurons with a leaf above b − margin
    (a superset of K_0 whatever BLAS's summation order); then one pass over the candidates sums their leaves in
    the streamed Init's order and keeps those that fire at b — K_0; W0ᵀW0 over the same sub-blocks as `_scan`'s."""
    m, d = W0.shape
    n = XT.shape[1]
    rows = max(SUB, min(chunk, (1 << 21) // (8 * max(d, n))) // SUB * SUB)  # a block stays in cache (2 MiB)
    U = np.empty((min(rows, m), n))
    hits = np.empty(min(rows, m), dtype=np.int64)
    G = np.zeros((d, d))
    cand = []
    for lo in range(0, m, rows):
        hi = min(m, lo + rows)
        Wc = W0[lo:hi]
        if n:
            np.matmul(Wc, XT, out=U[:hi - lo])
            cand.append(hits[:_screen(U[:hi - lo], b - CANDIDATE_MARGIN, lo, hits)].copy())
        if want_gram:
            for P in _blocks_gram(Wc):  # in order, sub-block by sub-block
                G += P
        if progress is not None and (hi == m or hi // chunk != lo // chunk):
            progress(hi, m)
    ids = np.concatenate(cand) if cand else np.empty(0, dtype=np.int64)
    return _held_gather(W0, ids, key_a, XT, b) + (G if want_gram else None,)


def active_init(key_w, key_a, X, b, m, d, chunk=CHUNK, gram=False, progress=None, W0=None):
    """The streamed Init: (K, kptr, kpts, LK, WK, aK, G) for the neurons of K_0 = ∪_i S_i(0), ascending —
    their fire sets (neuron-major CSR), leaves <w_r(0), x_i>, rows of W0 and signs a_r — and, with
    gram=True, G = W0ᵀW0 (d, d) in the same pass (else None).

    The (m, d) weights and (m, n) leaves never exist: memory is O(|K_0|·(n + d)) plus O(chunk) scratch.
    W0: None (rows generated from key_w), or W0 itself (m, d) when a caller already holds it: its rows are read
    instead of generated, and every result is the same bit for bit (tests/test_init_stream.py).
    progress: None or a callable(done, m) called after every chunk (minutes at m = 2^30)."""
    want_gram = bool(gram)
    XT = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T)
    key_w, key_a = np.uint64(key_w), np.uint64(key_a)
    chunk = max(SUB, (int(chunk) // SUB) * SUB)  # whole sub-blocks, so the sums do not depend on the chunk
    if W0 is not None and (W0.shape != (m, d) or W0.dtype != np.float64 or not W0.flags.c_contiguous):
        raise ValueError(f"W0: expected a C-contiguous float64 array of shape {(m, d)}, got {W0.dtype} {W0.shape}")
    if XT.shape[1] * d >= BLAS_LEAVES:
        return _active_init_blas(key_w, key_a, XT, b, m, d, chunk, want_gram, progress, W0)
    if W0 is not None:
        return _active_init_held(W0, key_a, XT, b, chunk, want_gram, progress)
    counts = np.empty(min(chunk, m), dtype=np.int64)
    partial = np.empty(((min(chunk, m) + SUB - 1) // SUB, d, d) if want_gram else (1, 1, 1))
    G = np.zeros((d, d))
    parts = []
    for lo in range(0, m, chunk):
        hi = min(m, lo + chunk)
        c = counts[:hi - lo]
        nsub = (hi - lo + SUB - 1) // SUB
        _scan(key_w, lo, hi, XT, b, d, c, partial, want_gram, _KI, _WI, _FI)
        if want_gram:
            for s in range(nsub):  # in order: the total does not depend on the threads
                G += partial[s]
        if XT.shape[1]:
            pos, kptr = _offsets(c)
            Kb, kpts, LK, WK, aK = _gather(key_w, key_a, lo, XT, b, d, pos, kptr, _KI, _WI, _FI)
            parts.append((Kb, np.diff(kptr), kpts, LK, WK, aK))
        if progress is not None:
            progress(hi, m)
    return _join(parts, XT.shape[1], d) + (G if want_gram else None,)


# -- the public wrappers (keys as Python ints) ---------------------------------------------------
def w0_rows(key_w, ids, d):
    """Rows `ids` of W0 (len(ids), d)."""
    return rows(np.uint64(key_w), np.ascontiguousarray(ids, dtype=np.int64), int(d), _KI, _WI, _FI)


def w0_block(key_w, lo, hi, d):
    """Rows lo … hi−1 of W0."""
    return row_block(np.uint64(key_w), int(lo), int(hi), int(d), _KI, _WI, _FI)


def w0_dense(key_w, m, d, block=CHUNK, progress=None):
    """All of W0 (m, d), materialised block by block (what a solver that holds W0 uses); progress as in
    `active_init`."""
    out = np.empty((m, d))
    for lo in range(0, m, block):
        out[lo:lo + block] = w0_block(key_w, lo, min(m, lo + block), d)
        if progress is not None:
            progress(min(m, lo + block), m)
    return out


def a_signs(key_a, ids):
    """a_r for r in ids."""
    return signs(np.uint64(key_a), np.ascontiguousarray(ids, dtype=np.int64))


def w0_gram(key_w, m, d, chunk=CHUNK, progress=None):
    """W0ᵀW0 (d, d) in one streamed pass (the same sums as `active_init(..., gram=True)`)."""
    return active_init(key_w, 0, np.empty((0, d)), 0.0, m, d, chunk=chunk, gram=True, progress=progress)[-1]


def stream_normals(key, start, count):
    """Numbers start … start+count−1 of the normal stream `key` (flat)."""
    return normals(np.uint64(key), int(start), int(count), _KI, _WI, _FI)
