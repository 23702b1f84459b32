"""Naive reference implementations that the kernel tests check against.

Every kernel in ``simulator`` is checked against one of these functions.
They are written as plain loops and plain NumPy, straight from the
definitions (seed 002 / docs/theory.md), with no attempt at speed.

This module must not import anything from ``simulator``: a reference that
shares code with what it checks could not catch that code's bugs.

Test modules import from here as ``from naive import ...``; pytest puts
``tests/`` on ``sys.path`` because ``tests/`` has no ``__init__.py``.
"""

import math

import numpy as np

__all__ = [
    # two-layer network: forward pass, Jacobian, steps
    "naive_forward",
    "naive_jacobian",
    "naive_jacobian_of_incidence",
    "naive_gauss_newton_step",
    "naive_gd_step",
    # fire sets / active sets
    "naive_problem",
    "naive_fire_sets",
    "naive_active",
    # threshold tree
    "naive_leaves",
    "naive_query",
    "naive_band",
    "naive_query_nodes",
    "naive_heap_ok",
    # data
    "naive_separability",
    # sketches
    "M64",
    "GOLDEN",
    "naive_mix",
    "naive_entry",
    "naive_osnap_matrix",
    "naive_dense_jt",
    "naive_sketch_jt",
]


# -- two-layer network: forward pass, Jacobian, steps --------------------------
def naive_forward(W, X, a, b):
    """f(x) = Σ_r a_r max(<w_r, x> − b, 0) / √m, one point at a time."""
    m = W.shape[0]
    return np.array([sum(a[r] * max(W[r] @ x - b, 0.0) for r in range(m)) / math.sqrt(m) for x in X])


def naive_jacobian_of_incidence(X, a, fires):
    """J (n, m·d) from a given incidence: row i, block r = a_r x_i / √m where
    fires[i, r] is true, zero elsewhere; built entry by entry.

    Use this form when the kernel under test is fed fire sets computed
    elsewhere (e.g. from U = X Wᵀ), so that the reference sees exactly the
    same fire sets, including at the threshold."""
    n, d = X.shape
    m = a.shape[0]
    J = np.zeros((n, m * d))
    for i in range(n):
        for r in range(m):
            if fires[i, r]:
                for c in range(d):
                    J[i, r * d + c] = a[r] * X[i, c] / math.sqrt(m)
    return J


def naive_jacobian(W, X, a, b):
    """J (n, m·d): row i, block r = a_r x_i 1[<w_r, x_i> > b] / √m, built entry by
    entry (each <w_r, x_i> is its own dot product)."""
    m = W.shape[0]
    n = X.shape[0]
    fires = np.zeros((n, m), dtype=bool)
    for i in range(n):
        for r in range(m):
            fires[i, r] = np.dot(W[r], X[i]) > b
    return naive_jacobian_of_incidence(X, a, fires)


def naive_gauss_newton_step(W, X, y, a, b):
    """W − Jᵀ (J Jᵀ)⁻¹ (f − y), reshaped to W's shape."""
    J = naive_jacobian(W, X, a, b)
    g = np.linalg.solve(J @ J.T, naive_forward(W, X, a, b) - y)
    return W - (J.T @ g).reshape(W.shape)


def naive_gd_step(W, X, y, a, b, eta):
    """W − η Jᵀ (f − y), reshaped to W's shape."""
    J = naive_jacobian(W, X, a, b)
    return W - eta * (J.T @ (naive_forward(W, X, a, b) - y)).reshape(W.shape)


# -- fire sets / active sets -----------------------------------------------------
def naive_problem(m, n, d, seed, b=0.3):
    """A small random problem with its fire sets, as dense incidence and as CSR.

    Returns X (unit rows), W, a (±1), U = X Wᵀ, b, fires = U > b, indptr, indices."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((m, d))
    a = rng.choice([-1.0, 1.0], size=m)
    U = X @ W.T
    fires = U > b
    indptr = np.concatenate([[0], np.cumsum(fires.sum(axis=1))]).astype(np.int64)
    indices = np.concatenate([np.flatnonzero(row) for row in fires]).astype(np.int64)
    return X, W, a, U, b, fires, indptr, indices


def naive_fire_sets(U, b):
    """Per point i, the neurons r with U[i, r] > b (ascending, int64)."""
    return [naive_query(U, i, b) for i in range(U.shape[0])]


def naive_active(U, b):
    """Neurons firing on some point (ascending) and, per neuron, its points."""
    fires = U > b
    K = np.flatnonzero(fires.any(axis=0))
    return K, [np.flatnonzero(fires[:, r]) for r in K]


# -- threshold tree --------------------------------------------------------------
def naive_leaves(W, X):
    """U (n, m): U[i, r] = <w_r, x_i>, one dot product per entry."""
    return np.array([[float(np.dot(W[r], X[i])) for r in range(W.shape[0])] for i in range(X.shape[0])])


def naive_query(U, i, tau):
    """The neurons r with U[i, r] > tau (ascending, int64)."""
    return np.array([r for r in range(U.shape[1]) if U[i, r] > tau], dtype=np.int64)


def naive_query_nodes(U, i, tau):
    """Nodes a threshold walk of tree i reads at tau (Alg. 4): the root, and both children of every internal
    node whose max exceeds tau — over the max-heap of U[i] padded with -inf to a power of two, built here."""
    m = U.shape[1]
    M = 1
    while M < m:
        M *= 2
    heap = np.full(2 * M, -np.inf)
    heap[M:M + m] = U[i]
    for k in range(M - 1, 0, -1):
        heap[k] = max(heap[2 * k], heap[2 * k + 1])
    return 1 + 2 * sum(1 for k in range(1, M) if heap[k] > tau)


def naive_band(U, i, lo, hi):
    """The neurons r with lo < U[i, r] <= hi (ascending, int64)."""
    return np.array([r for r in range(U.shape[1]) if lo < U[i, r] <= hi], dtype=np.int64)


def naive_heap_ok(nodes, M, U):
    """Every leaf holds its u (or -inf padding); every internal node the max of its children.

    Asserts (raises AssertionError) rather than returning a flag."""
    n, m = U.shape
    for i in range(n):
        leaves = nodes[i, M:]
        assert np.array_equal(leaves[:m], U[i])
        assert np.all(np.isneginf(leaves[m:]))
        for k in range(1, M):
            assert nodes[i, k] == max(nodes[i, 2 * k], nodes[i, 2 * k + 1])


# -- data --------------------------------------------------------------------------
def naive_separability(X):
    """Reference: O(n²) double loop over pairs, straight from Def. 2.11."""
    n = X.shape[0]
    best = np.inf
    for i in range(n):
        for j in range(n):
            if i != j:
                best = min(best, np.linalg.norm(X[i] - X[j]), np.linalg.norm(X[i] + X[j]))
    return best


# -- sketches ----------------------------------------------------------------------
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def naive_mix(z):
    """splitmix64 finaliser in Python integers."""
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def naive_entry(seed, r, c, k, d, s, nnz):
    """Documented hash, in Python integers: key = mix(seed + γ); column j = r·d + c has P = ⌈nnz/2⌉ mixes
    h_t = mix(key + γ·(j·P + t + 1)); nonzero k takes the 32-bit half x = (h_{k//2} >> 32·(k % 2)) mod 2^32,
    its row from the top 31 bits of x inside block k, its sign from bit 0 of x."""
    key = naive_mix(int(seed) + GOLDEN)
    P = (nnz + 1) // 2
    h = naive_mix(key + GOLDEN * ((r * d + c) * P + k // 2 + 1))
    x = (h >> (32 * (k % 2))) & 0xFFFFFFFF
    lo = k * s // nnz
    size = (k + 1) * s // nnz - lo
    return lo + (((x >> 1) * size) >> 31), (1.0 if x & 1 == 0 else -1.0)


def naive_osnap_matrix(m, d, s, nnz, seed):
    """The dense OSNAP matrix S (s, m·d), entry by entry from naive_entry."""
    S = np.zeros((s, m * d))
    for r in range(m):
        for c in range(d):
            for k in range(nnz):
                row, sign = naive_entry(seed, r, c, k, d, s, nnz)
                S[row, r * d + c] += sign / math.sqrt(nnz)
    return S


def naive_dense_jt(indptr, indices, a, X, m):
    """A = Jᵀ (m·d, n) from CSR fire sets, entry by entry (the transpose of
    naive_jacobian_of_incidence, with m given explicitly)."""
    n, d = X.shape
    A = np.zeros((m * d, n))
    for i in range(n):
        for r in indices[indptr[i]:indptr[i + 1]]:
            for c in range(d):
                A[r * d + c, i] = a[r] * X[i, c] / math.sqrt(m)
    return A


def naive_sketch_jt(indptr, indices, a, X, m, s, nnz, seed):
    """B = S·Jᵀ as a dense product of the two naive matrices."""
    return naive_osnap_matrix(m, X.shape[1], s, nnz, seed) @ naive_dense_jt(
        indptr, indices, a, X, m)


# -- ball tree (half-space reporting, seed 001) ----------------------------------
__all__ += [
    "naive_halfspace",
    "naive_balltree_ok",
    "naive_balltree_fresh",
]


def _naive_inner(P, x):
    """<p_i, x> for every row, summed coordinate by coordinate in order (as the kernel does),
    so that a value exactly at b is decided the same way on both sides."""
    v = np.zeros(P.shape[0])
    for j in range(P.shape[1]):
        v += P[:, j] * x[j]
    return v


def _naive_dist(P, c):
    """||p_i - c|| for every row, the squares summed coordinate by coordinate in order."""
    v = np.zeros(P.shape[0])
    for j in range(P.shape[1]):
        t = P[:, j] - c[j]
        v += t * t
    return np.sqrt(v)


def naive_halfspace(P, x, b):
    """Brute force QUERY(x, b): the ids i with <p_i, x> > b (strict), ascending int64."""
    v = _naive_inner(P, x)
    return np.array([i for i in range(P.shape[0]) if v[i] > b], dtype=np.int64)


def naive_balltree_ok(P, order, start, end, centres, radii, leaf_of, leaf_size, Pt=None):
    """The ball-tree invariants that hold after any sequence of moves (asserts).

    A heap of 2**(D+1) - 1 nodes with D the smallest depth with ceil(N / 2**D) <= leaf_size;
    order a permutation; the root owns [0, N); each internal node's range splits at its middle
    into its children (2k+1, 2k+2); leaves hold <= leaf_size points and leaf_of names them;
    every node's ball (centres[k], radii[k]) contains every point it owns; and, if given, the
    points in tree order Pt are P[order]."""
    N = P.shape[0]
    if Pt is not None:
        assert np.array_equal(Pt, P[order])
    n_nodes = radii.shape[0]
    D = int(round(math.log2(n_nodes + 1))) - 1
    assert n_nodes == 2 ** (D + 1) - 1
    assert math.ceil(N / 2 ** D) <= leaf_size
    assert D == 0 or math.ceil(N / 2 ** (D - 1)) > leaf_size
    assert np.array_equal(np.sort(order), np.arange(N))
    assert start[0] == 0 and end[0] == N
    first_leaf = 2 ** D - 1
    for k in range(n_nodes):
        s, e = start[k], end[k]
        assert 0 <= s <= e <= N
        if k < first_leaf:
            mid = (s + e) // 2
            assert (start[2 * k + 1], end[2 * k + 1], start[2 * k + 2], end[2 * k + 2]) == (s, mid, mid, e)
        else:
            assert e - s <= leaf_size
            for q in range(s, e):
                assert leaf_of[order[q]] == k
        if e > s:
            ids = order[s:e]
            assert np.all(_naive_dist(P[ids], centres[k]) <= radii[k])


def naive_balltree_fresh(P, order, start, end, centres, radii, leaf_of, leaf_size, Pt=None):
    """Right after a build, on top of naive_balltree_ok: every centre is the mean of its points,
    every radius the largest distance to it, and each internal node's points are split along the
    coordinate of largest spread (max - min; the first on ties): left keys <= right keys."""
    naive_balltree_ok(P, order, start, end, centres, radii, leaf_of, leaf_size, Pt)
    first_leaf = radii.shape[0] // 2
    for k in range(radii.shape[0]):
        s, e = start[k], end[k]
        if e == s:
            assert radii[k] == 0.0
            continue
        pts = P[order[s:e]]
        assert np.allclose(centres[k], pts.mean(axis=0), rtol=1e-12, atol=1e-12)
        assert radii[k] == _naive_dist(pts, centres[k]).max()
        if k < first_leaf and e - s >= 2:
            j = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
            mid = (s + e) // 2
            assert P[order[s:mid], j].max() <= P[order[mid:e], j].min()


# -- tensor sketches (seed 004) ----------------------------------------------------
__all__ += [
    # tensor sketches (seed 004)
    "naive_kron_rows",
    "naive_tensorsketch_matrix",
    "naive_hadamard",
    "naive_tensor_srht_matrix",
    "naive_gaussian_kron_matrix",
]


def naive_kron_rows(U, V):
    """(n, m²): row i = u_i ⊗ v_i, row-major ((u ⊗ v)[a·m + b] = u[a]·v[b]), one np.kron per row."""
    n, m = U.shape
    K = np.zeros((n, m * m))
    for i in range(n):
        K[i] = np.kron(U[i], V[i])
    return K


def naive_tensorsketch_matrix(h1, s1, h2, s2, s):
    """The (s, m²) CountSketch matrix of u ⊗ v that TensorSketch equals, entry by entry:
    column a·m + b has the single nonzero s1[a]·s2[b] in row (h1[a] + h2[b]) mod s."""
    m = len(h1)
    S = np.zeros((s, m * m))
    for a in range(m):
        for b in range(m):
            S[(int(h1[a]) + int(h2[b])) % s, a * m + b] = s1[a] * s2[b]
    return S


def naive_hadamard(M):
    """The unnormalised M × M Walsh-Hadamard matrix by Sylvester's recursion
    H_1 = [1], H_2k = [[H_k, H_k], [H_k, -H_k]]; M a power of two."""
    assert M >= 1 and M & (M - 1) == 0
    H = np.ones((1, 1))
    while H.shape[0] < M:
        H = np.block([[H, H], [H, -H]])
    return H


def naive_tensor_srht_matrix(D1, D2, I, J, M, m, s):
    """The (s, m²) TensorSRHT matrix: row k = kron((H D1)[I_k, :m], (H D2)[J_k, :m]) / √s,
    H = naive_hadamard(M), D = diag(D) (only the first m columns act on a zero-padded vector)."""
    H = naive_hadamard(M)
    A = H @ np.diag(D1)
    B = H @ np.diag(D2)
    S = np.zeros((s, m * m))
    for k in range(s):
        S[k] = np.kron(A[I[k], :m], B[J[k], :m]) / math.sqrt(s)
    return S


def naive_gaussian_kron_matrix(seed, m, s):
    """The (s, m²) Gaussian S of gaussian_kron from its documented draw order: one
    Generator np.random.default_rng(seed); column j = 0 .. m²−1 in order is
    rng.standard_normal(s) / √s (drawn here one column at a time)."""
    rng = np.random.default_rng(seed)
    S = np.zeros((s, m * m))
    for j in range(m * m):
        S[:, j] = rng.standard_normal(s) / math.sqrt(s)
    return S


# -- the multilayer network (seed 004) ----------------------------------------------
__all__ += ["naive_layer", "naive_multilayer_init", "naive_multilayer_forward"]


def naive_layer(WT, H):
    """Pre-activations Z[i, r] = Σ_c W[r, c]·H[i, c] with W given transposed (WT[c, r] = W[r, c]), by loops."""
    n, m_in = H.shape
    Z = np.zeros((n, WT.shape[1]))
    for i in range(n):
        for c in range(m_in):
            if H[i, c] != 0.0:
                Z[i] += H[i, c] * WT[c]
    return Z


def naive_multilayer_init(X, m, layers, alpha, rng):
    """The weights of docs/theory.md §9, drawn from `rng` in the documented order, straight from the formulas:
    t = √(2α ln m), κ(t) = (1 + t²)Q(t) − tφ(t), σ_w = 1/√(m κ(t)), b = tσ_w; a, W_1 (m, d), then
    W_2ᵀ … W_{L−1}ᵀ in blocks of 4096 rows (the same numbers as drawn whole), then W_Lᵀ (m, m).
    Returns (a, [W_1, W_2ᵀ, …, W_Lᵀ], b)."""
    t = math.sqrt(2.0 * alpha * math.log(m))
    Q = 0.5 * math.erfc(t / math.sqrt(2.0))
    kap = (1.0 + t * t) * Q - t * math.exp(-t * t / 2.0) / math.sqrt(2.0 * math.pi)
    sw = 1.0 / math.sqrt(m * kap)
    a = rng.choice(np.array([-1.0, 1.0]), size=m)
    Ws = [sw * rng.standard_normal((m, X.shape[1]))]
    for _ in range(2, layers):
        Ws.append(np.vstack([sw * rng.standard_normal((min(4096, m - lo), m)) for lo in range(0, m, 4096)]))
    Ws.append(sw * rng.standard_normal((m, m)))
    return a, Ws, t * sw


def naive_multilayer_forward(X, a, Ws, b):
    """f(x_i) = aᵀ φ(W_L φ(… φ(W_1 x_i))) one layer at a time with φ(z) = max(z − b, 0); also returns the
    list of every layer's activations h_ℓ (n, m)."""
    H = np.maximum(X @ Ws[0].T - b, 0.0)
    hs = [H]
    for WT in Ws[1:]:
        H = np.maximum(naive_layer(WT, H) - b, 0.0)
        hs.append(H)
    return H @ a, hs


# -- W0 and a from the counter-based stream (SplitMix64 + 256-layer ziggurat) ------
__all__ += [
    "naive_splitmix_mix",
    "naive_ziggurat_tables",
    "naive_first_try",
    "naive_normals",
    "naive_signs",
    "naive_active_init",
]

_U64_GOLDEN = np.uint64(GOLDEN)


def naive_splitmix_mix(z):
    """SplitMix64's output mix on a uint64 array (or scalar), wrapping mod 2^64:
    z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def naive_ziggurat_tables(r=3.6541528853610088, v=0.00492867323399):
    """(ki uint64, wi, fi) of the 256-layer ziggurat straight from its definition.

    f(x) = exp(−x²/2), f⁻¹(y) = √(−2 ln y). The layer edges X_i: X_255 = r and, going down,
    X_{i−1} = f⁻¹(f(X_i) + v/X_i) for i = 255 … 2 (X_0 = 0 is never used). Then
    layer 0 (the base strip with the tail): wi = v/f(r)/2^52, ki = ⌊r f(r)/v · 2^52⌋, fi = 1;
    layer 1: ki = 0; layer i ≥ 2: ki = ⌊X_{i−1}/X_i · 2^52⌋; every layer i ≥ 1: wi = X_i/2^52, fi = f(X_i)."""
    def f(x):
        return math.exp(-x * x / 2.0)

    def f_inv(y):
        return math.sqrt(-2.0 * math.log(y))

    edges = {255: r}
    i = 255
    while i > 1:
        edges[i - 1] = f_inv(f(edges[i]) + v / edges[i])
        i -= 1
    scale = float(2 ** 52)
    ki = [0] * 256
    wi = [0.0] * 256
    fi = [0.0] * 256
    ki[0] = math.floor(r * f(r) / v * scale)
    wi[0] = v / f(r) / scale
    fi[0] = 1.0
    for i in range(1, 256):
        ki[i] = 0 if i == 1 else math.floor(edges[i - 1] / edges[i] * scale)
        wi[i] = edges[i] / scale
        fi[i] = f(edges[i])
    return np.array(ki, dtype=np.uint64), np.array(wi, dtype=np.float64), np.array(fi, dtype=np.float64)


def _naive_words(key, counters):
    """mix(key + c·γ) for every counter c (uint64, wrapping)."""
    c = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return naive_splitmix_mix(np.uint64(int(key) & M64) + c * _U64_GOLDEN)


def _naive_split(word, ki, wi):
    """One ziggurat try from 64-bit words: idx = low 8 bits; of word >> 8 the low bit is the sign and the
    next 52 bits the magnitude k; x = ±k·wi[idx]; accepted outright when k < ki[idx]. Returns (x, ok, idx, neg)."""
    word = np.asarray(word, dtype=np.uint64)
    idx = (word & np.uint64(0xFF)).astype(np.int64)
    rest = word >> np.uint64(8)
    neg = (rest & np.uint64(1)) == np.uint64(1)
    mag = (rest >> np.uint64(1)) & np.uint64((1 << 52) - 1)
    x = mag.astype(np.float64) * wi[idx]
    x = np.where(neg, -x, x)
    return x, mag < ki[idx], idx, neg


def naive_first_try(key, counters, tables=None):
    """The first ziggurat try of every counter, vectorised: (x, accepted, idx)."""
    ki, wi, _ = naive_ziggurat_tables() if tables is None else tables
    x, ok, idx, _ = _naive_split(_naive_words(key, counters), ki, wi)
    return x, ok, idx


def _naive_unit(word):
    """A 64-bit word (Python int) as a double in [0, 1): its top 53 bits / 2^53."""
    return float(word >> 11) / 9007199254740992.0


def naive_normals(key, counters, return_words=False, tables=None):
    """Standard normals number `counters` of the stream `key`.

    First word s = mix(key + c·γ) (all counters at once, `naive_first_try`). For the counters not accepted
    outright, a plain Python loop in Python integers: further words are mix(s + k·γ), k = 1, 2, … in the order
    they are needed:
      idx ≠ 0 (wedge): one word u; accept x if (fi[idx−1] − fi[idx])·u + fi[idx] < f(x), else the next word
        starts a fresh try (new idx, sign, magnitude);
      idx = 0 (tail): pairs of words u1, u2: xx = −ln(1 − u1)/r, yy = −ln(1 − u2), until 2·yy > xx²; the result
        is ±(r + xx) with the sign of the try that landed in the base strip.
    With return_words, also the number of 64-bit words each entry used (1 = accepted on the first try)."""
    ki, wi, fi = naive_ziggurat_tables() if tables is None else tables
    r = float(3.6541528853610088)
    counters = np.asarray(counters, dtype=np.uint64)
    first = _naive_words(key, counters)
    z, ok, _, _ = _naive_split(first, ki, wi)
    z = np.array(z, dtype=np.float64)
    used = np.ones(z.shape, dtype=np.int64)
    for p in np.flatnonzero(~ok):
        s = int(first[p])
        k = 0

        def nxt():
            nonlocal k
            k += 1
            return naive_mix(s + k * GOLDEN)

        word = s
        while True:
            x, acc, idx, neg = _naive_split(np.uint64(word), ki, wi)
            x, acc, idx, neg = float(x), bool(acc), int(idx), bool(neg)
            if acc:
                break
            if idx == 0:
                while True:
                    xx = -math.log1p(-_naive_unit(nxt())) / r
                    yy = -math.log1p(-_naive_unit(nxt()))
                    if 2.0 * yy > xx * xx:
                        break
                x = -(r + xx) if neg else r + xx
                break
            u = _naive_unit(nxt())
            if (fi[idx - 1] - fi[idx]) * u + fi[idx] < math.exp(-x * x / 2.0):
                break
            word = nxt()
        z[p] = x
        used[p] = k + 1
    return (z, used) if return_words else z


def naive_signs(key, ids):
    """a_r = +1 if the top bit of mix(key + r·γ) is set, else −1."""
    words = _naive_words(key, ids)
    return np.where((words >> np.uint64(63)) == np.uint64(1), 1.0, -1.0)


def naive_active_init(W0, a, X, b):
    """From a held W0 (m, d) and a (m,): (K, kptr, kpts, LK, WK, aK) by brute force.

    U = W0 Xᵀ (m, n) whole; neuron r is active if U[r, i] > b (strict) for some i; K ascending; kpts lists
    each active neuron's points ascending, kptr the neuron-major CSR pointer; LK = U[K], WK = W0[K], aK = a[K]."""
    U = np.asarray(W0, dtype=np.float64) @ np.asarray(X, dtype=np.float64).T
    fires = U > b
    K = np.array([r for r in range(U.shape[0]) if fires[r].any()], dtype=np.int64)
    per = [np.flatnonzero(fires[r]).astype(np.int64) for r in K]
    kptr = np.zeros(len(K) + 1, dtype=np.int64)
    for q, pts in enumerate(per):
        kptr[q + 1] = kptr[q] + len(pts)
    kpts = np.concatenate(per) if per else np.empty(0, dtype=np.int64)
    return K, kptr, kpts, U[K].reshape(len(K), U.shape[1]), np.asarray(W0)[K], np.asarray(a)[K]


def naive_owens_t(h, a):
    """Owen's T(h, a) = (1/2π) ∫_0^a exp(−h²(1 + t²)/2) / (1 + t²) dt by adaptive quadrature (SciPy's quad),
    straight from the definition."""
    from scipy.integrate import quad

    val, _ = quad(lambda t: math.exp(-0.5 * h * h * (1.0 + t * t)) / (1.0 + t * t), 0.0, a,
                  epsabs=0.0, epsrel=2e-14, limit=200)
    return val / (2.0 * math.pi)
