"""Operation counts of a two-layer training step: the one table every count is read from.

Each two-layer solver records per step the metric `phase_flops`, aligned with `solver.phases`:
entry p is the number of operations of the code timed as phase p. A count is computed after its
phase, from the sizes the step knows and the counters the kernels already return (tree nodes
touched, memberships changed, candidates, …); each costs O(1), at most O(|K|), never a pass over
the work it counts, and none depends on the machine. docs/theory.md §10 holds the same tables.

**Unit: one operation.** A multiply-add counts 2. Any other arithmetic operation (add, subtract,
multiply, divide, square root, max), a comparison, a conversion of one entry, a hashed add (hash a
(row, column) pair of the sketch S and add ±v to that entry of B), the visit of a threshold-tree
node (read to decide where to descend, or recomputed and written), the draw of one random number
and one integer step on one CSR entry (count, place or mark it) each count 1. Memory traffic alone
— allocation, zero-fill, copy, gather — counts 0, and so do input checks (shapes, ranges, empty fire
sets: O(n + nnz) at most). Dense LAPACK work counts its textbook leading term, rounded down.

Symbols: n points, d inputs, m neurons; nnz = Σ_i |S_i(t)| (fire pairs of the step), nnz' the
same after the step; k = |K_t| (neurons firing on some point); q = Σ_{r∈K} |F_r|²; s sketch rows,
z nonzeros per sketch column (1 for CountSketch); it regression iterations; ⌈lg x⌉ = ⌈log₂ x⌉.

Table A — the counts (the function of this module of the same name computes each):

| count | what | operations |
|---|---|---|
| `gemm(a, b, c)` | dense product (a × b)·(b × c) | 2abc |
| `cholesky(n)` | Cholesky factor of an n × n matrix | ⌊n³/3⌋ |
| `tri_solve(n, r)` | triangular n × n solve with r right-hand sides | r·n² |
| `eigvalsh(n)` | eigenvalues only of a symmetric n × n matrix (tridiagonal reduction) | ⌊4n³/3⌋ |
| `qr_r(s, n)` | R of the Householder QR of an s × n matrix | 2sn² − ⌊2n³/3⌋ |
| `sort(k)` | sorting k keys | k·⌈lg k⌉ (0 for k < 2) |
| `tree_nodes(t)` | threshold-tree query or batched update | t, the nodes the kernel touched |
| `by_neuron(nnz, k, sorted, span)` | point-major → neuron-major CSR (kernels/jacobian.py) | 3nnz + 3k (+ sort(k), or + span when K is collected by a scan of span marks) |
| `point_major(nnz, n)` | neuron-major → point-major CSR | 2nnz + n |
| `to_csr(nnz, n)` | member lists → CSR (incidence, data-hsr) | nnz + n |
| `dense_csr(m, n, nnz)` | CSR from the dense (n, m) incidence (bpsw) | mn + nnz + n |
| `fire_views(k, n)` | a_r/√m for r ∈ K and the fire counts |S_i| | k + n |
| `fire_counts(nnz)` | |S_i| by counting fire pairs | nnz |
| `forward(nnz)` | f_i = Σ_{r∈S_i} (a_r/√m)(u_{r,i} − b) from stored leaves | 3nnz |
| `forward_explicit(nnz, d)` | the same, each leaf an inner product with explicit w_r | nnz·(2d + 3) |
| `coefficients(nnz)` | Δc_{r,j} = −a_r g_j/√m and c_r += Δc_r (implicit weights) | 2nnz |
| `rows_explicit(k, n, d)` | w_r = w_r(0) + c_r X for r ∈ K | 2knd + kd |
| `leaves_ip(k, n, d)` | leaves u_{r,i} = ⟨w_r, x_i⟩ of K, by inner products | 2knd |
| `leaf_deltas(nnz, n)` | Δu_{r,i} = Σ_{j∈F_r} Δc_{r,j} (XXᵀ)_{ji} (d-free, theory §6) | 2·nnz·n |
| `leaf_shift(k, n)` | u ← u + Δu for the leaves of K | kn |
| `threshold(k, n)` | compare the new leaves of K with b | kn |
| `memberships(c)` | c (point, neuron) memberships added or swap-removed | c |
| `gram_counts(q)` | C_ij = |S_i ∩ S_j| neuron by neuron | q |
| `gram_scale(n)` | G = (XXᵀ) ∘ C / m | 2n² |
| `check_gram(n)` | finiteness and λ_min/λ_max of G | n² + eigvalsh(n) |
| `solve_spd(n)` | g = G⁻¹v: Cholesky and two triangular solves | cholesky(n) + 2·tri_solve(n, 1) |
| `gv_sparse(k, nnz, q)` | G v = Aᵀ(A v) through the fire sets, d-free via XXᵀ (kernels gram_matvec); q = Σ_r |F_r|² | k + 2q + 2nnz |
| `sketch_hashed(nnz, d, z)` | B = S·Jᵀ, OSNAP/CountSketch from fire sets: hashed adds | nnz·d·z |
| `sketch_scale(nnz, d)` | the entries a_r x_{i,c}/√m the hashed adds spread | nnz·(d + 1) |
| `sketch_gaussian(s, m, d, n, nnz)` | dense reference: Jᵀ built, S drawn, S·Jᵀ | 2nnz·d + 2smd + 2smdn |
| `sketch_srht(s, m, d, n, nnz)` | dense reference: Jᵀ built, signs, Walsh–Hadamard (P = md padded to 2^k), rows sampled | 2nnz·d + 2mdn + nP⌈lg P⌉ + sn |
| `preconditioner(s, n)` | R = R_B⁻¹: QR of B and the triangular inverse | qr_r(s, n) + tri_solve(n, n) |
| `paper_iteration(it, n, gv)` | seed 002 Alg. 5 lines 31–35, `it` passes of 2 G·v (each `gv`) | it·(2gv + 8n² + 4n) + 5n + 2n² |
| `pcg(it, n, gv)` | preconditioned CG, `it` iterations, the true residual at the end | (it + 1)·gv + it·(4n² + 12n) + 4n² + 7n |
| `dense_forward(m, n, d)` | U = XWᵀ, F, σ_b, f (dense solvers) | 2mnd + 7mn + n |
| `dense_add_jt(m, n, d)` | W ← W + αJᵀg, one GEMM in place | 2mnd + 2md + nd |
| `dense_overlaps(m, n)` | C = FFᵀ (float32 GEMM) and its conversion | 2mn² + n² |
| `dense_gv(m, n, d)` | G v = J(Jᵀv) through the dense J in blocks of 4096 neurons | 4mnd + 3nd + nd·⌈m/4096⌉ |
| `balltree_query(nq, visited, reported, d)` | ball-tree queries: ‖x‖ per query, a centre test per visited node, a report per point | nq(2d + 1) + visited·(2d + 8) + reported |
| `balltree_update(k, depth, d)` | k points moved, radii on the whole leaf-to-root path | k(depth + 1)(3d + 2) |
| `balltree_build(work, d)` | a rebuild: `build_work` point reads of d coordinates | work·d |
| `lsh_query(n, tables, m, candidates, d)` | two binary searches per point and table, an exact test per candidate | 2n·tables·⌈lg(m + 1)⌉ + candidates·(2d + 1) |
| `lsh_rehash(m, tables, bits, d)` | SimHash codes of W (GEMM, signs, packing) and the sort of each table | 2md·tables·bits + 3m·tables·bits + tables·sort(m) |
| `drift_filter(candidates, moved, n)` | exact filter of the candidates on u(t) = u(0) + c_r XXᵀ | candidates + 2n·moved |
| `drift_bound(k, n)` | D_t from the moved neurons' drifts c_rᵀ XXᵀ c_r | 2kn² + 2kn + k |

Known undercount: a ball-tree query also tests each point of a leaf whose ball straddles the
hyperplane (2d + 1 each); the ball-tree kernel does not return that number, so it is not counted.

Table B — the phases (the sum of these terms is the phase's entry of `phase_flops`):

| solver | phase | terms |
|---|---|---|
| sublinear, preprocess — index `tree` | query | tree_nodes(query) + by_neuron(sorted) + fire_views + forward |
| — `fireset` | query | to_csr + by_neuron + fire_views + forward |
| — `active` | query | 0 after the fused step (it left f and the counts), else forward + fire_counts; + point_major when a sketch needs it |
| — `weights-hsr` | query | balltree_query(n queries) + by_neuron + fire_views + forward_explicit |
| — `data-hsr` | query | to_csr + by_neuron + fire_views + forward_explicit |
| — `drift-slack` | query | tree_nodes(query at b − D_t) + drift_filter + by_neuron + fire_views + forward |
| — `lsh` | query | lsh_query + by_neuron + fire_views + forward_pairs (= forward) |
| — `tree` | update | coefficients + [rows_explicit + leaves_ip] or [leaf_deltas + leaf_shift] + tree_nodes(update) |
| — `fireset` | update | coefficients + [rows_explicit + leaves_ip] or [leaf_deltas + leaf_shift] + threshold + memberships |
| — `active`, inner-product | update | coefficients + rows_explicit + leaves_ip + threshold + nnz' (its CSR) |
| — `active`, gram (fused) | update | coefficients + leaf_deltas + leaf_shift + threshold + forward(nnz') + fire_counts(nnz') + nnz' |
| — `weights-hsr` | update | coefficients + 2·nnz·d + kd (moved rows) + balltree_update (+ balltree_build when rebuilt) |
| — `data-hsr` | update | coefficients + 2·nnz·d (moved rows) + balltree_query(k queries) + kn + nnz' + memberships |
| — `drift-slack` | update | coefficients + drift_bound |
| — `lsh` | update | coefficients + 2·nnz·d (moved rows) (+ lsh_rehash when rehashed) |
| direction `exact-gram` | regression | gram_counts + gram_scale + check_gram + solve_spd |
| direction sketched (`paper`, `pcg`) | sketch | sketch_hashed + sketch_scale (or a dense reference sketch) + preconditioner |
| | regression | paper_iteration or pcg with gv = gv_sparse |
| direction gradient | gradient | 2n (g = η(f − y)) |
| gd | gradient | n + dense_add_jt |
| | update | dense_forward |
| gauss-newton | gram | dense_overlaps + gram_scale + check_gram |
| | solve | n + solve_spd |
| | update | dense_add_jt + dense_forward |
| bpsw | sketch | dense_csr + sketch_hashed + sketch_scale (or a dense reference) + preconditioner |
| | regression | n + pcg with gv = dense_gv |
| | update | dense_add_jt + dense_forward |

The paper's cost per iteration (Thm 5.1) is Õ(n²·m^{0.76}·d + n³); `simulator sweep --fit` fits the
exponent of these counts against a grid key and reports their constant in front of n²·m^{0.76}·d.
"""

#: neurons per block of bpsw's dense G·v (solvers/bpsw.py _BLOCK)
DENSE_GV_BLOCK = 4096


def _lg(x):
    """⌈log₂ x⌉ for x ≥ 1 (0 for x ≤ 1)."""
    x = int(x)
    return (x - 1).bit_length() if x > 1 else 0


# -- dense linear algebra ------------------------------------------------------------------------
def gemm(a, b, c):
    return 2 * a * b * c


def cholesky(n):
    return n ** 3 // 3


def tri_solve(n, r=1):
    return r * n * n


def eigvalsh(n):
    return 4 * n ** 3 // 3


def qr_r(s, n):
    return 2 * s * n * n - 2 * n ** 3 // 3


def sort(k):
    return k * _lg(k) if k >= 2 else 0


# -- fire sets -----------------------------------------------------------------------------------
def tree_nodes(touched):
    return int(touched)


def by_neuron(nnz, k, sorted_=False, span=0):
    return 3 * nnz + 3 * k + (span if span > 0 else sort(k) if sorted_ else 0)


def point_major(nnz, n):
    return 2 * nnz + n


def to_csr(nnz, n):
    return nnz + n


def dense_csr(m, n, nnz):
    return m * n + nnz + n


def fire_views(k, n):
    return k + n


def fire_counts(nnz):
    return nnz


def forward(nnz):
    return 3 * nnz


def forward_explicit(nnz, d):
    return nnz * (2 * d + 3)


# -- the step W − Jᵀg and the leaves ---------------------------------------------------------------
def coefficients(nnz):
    return 2 * nnz


def rows_explicit(k, n, d):
    return 2 * k * n * d + k * d


def leaves_ip(k, n, d):
    return 2 * k * n * d


def leaf_deltas(nnz, n):
    return 2 * nnz * n


def leaf_shift(k, n):
    return k * n


def threshold(k, n):
    return k * n


def memberships(changed):
    return int(changed)


# -- Gauss-Newton directions -----------------------------------------------------------------------
def gram_counts(q):
    return int(q)


def gram_scale(n):
    return 2 * n * n


def check_gram(n):
    return n * n + eigvalsh(n)


def solve_spd(n):
    return cholesky(n) + 2 * tri_solve(n, 1)


def gv_sparse(k, nnz, q):
    return k + 2 * q + 2 * nnz


def sketch_hashed(nnz, d, z):
    return nnz * d * z


def sketch_scale(nnz, d):
    return nnz * (d + 1)


def sketch_gaussian(s, m, d, n, nnz):
    return 2 * nnz * d + 2 * s * m * d + gemm(s, m * d, n)


def sketch_srht(s, m, d, n, nnz):
    P = 1 << _lg(m * d)
    return 2 * nnz * d + 2 * m * d * n + n * P * _lg(P) + s * n


def preconditioner(s, n):
    return qr_r(s, n) + tri_solve(n, n)


def paper_iteration(it, n, gv, zero_rhs=False):
    """`regression.paper_iteration`: ‖y‖, r = −y; per pass the residual norm, Rᵀr, R·, G·, Rᵀ·, z −, R z, G·,
    − y; a last norm and g = R z. A zero right-hand side returns at once after ‖y‖."""
    if zero_rhs:
        return 2 * n
    return it * (2 * gv + 8 * n * n + 4 * n) + 5 * n + 2 * n * n


def pcg(it, n, gv, zero_rhs=False):
    """`regression.pcg`: ‖y‖, z = R Rᵀ r, rᵀz; per iteration G p, pᵀGp, g +=, r −=, R Rᵀ r, rᵀz, p =, ‖r‖;
    then the true residual ‖G g − y‖. A zero right-hand side returns at once after ‖y‖."""
    if zero_rhs:
        return 2 * n
    return (it + 1) * gv + it * (4 * n * n + 12 * n) + 4 * n * n + 7 * n


# -- the dense baselines -----------------------------------------------------------------------------
def dense_forward(m, n, d):
    return gemm(m, d, n) + 7 * m * n + n


def dense_add_jt(m, n, d):
    return gemm(d, n, m) + 2 * m * d + n * d


def dense_overlaps(m, n):
    return gemm(n, m, n) + n * n


def dense_gv(m, n, d):
    return 4 * m * n * d + 3 * n * d + n * d * (-(-m // DENSE_GV_BLOCK))


# -- seed 001's indexes --------------------------------------------------------------------------------
def balltree_query(nq, visited, reported, d):
    return nq * (2 * d + 1) + int(visited) * (2 * d + 8) + int(reported)


def balltree_update(k, depth, d):
    return k * (depth + 1) * (3 * d + 2)


def balltree_build(work, d):
    return int(work) * d


def lsh_query(n, tables, m, candidates, d):
    return 2 * n * tables * _lg(m + 1) + int(candidates) * (2 * d + 1)


def lsh_rehash(m, tables, bits, d):
    return 2 * m * d * tables * bits + 3 * m * tables * bits + tables * sort(m)


def drift_filter(candidates, moved, n):
    return int(candidates) + 2 * n * int(moved)


def drift_bound(k, n):
    return 2 * k * n * n + 2 * k * n + k


def total(terms):
    """The operations of one phase: the sum of its terms ({name: count})."""
    return sum(int(v) for v in terms.values())
