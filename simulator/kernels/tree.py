"""Threshold-search trees (seed 002, Appendix B, Algorithms 2-4, Theorem B.1).

One max-tree per data point i over the leaf values u_{r,i} = <w_r, x_i>, all n
trees in one flat float64 array `nodes` of shape (n, 2M): an implicit heap in
which node k has children 2k and 2k+1, the root is node 1, and the leaf of
leaf in slot s is node M + s. M is m rounded up to a power of two; the padding leaves
hold -inf so they never exceed any threshold. Node 0 is unused.

Which neuron sits in which slot is free (the paper's tree is over neuron ids; the order of its leaves
changes no query's answer): `order[s]` is the neuron in slot s (an empty `order` means slot = neuron).
The training step puts the neurons of K_0 = ∪_i S_i(0) first, because K_{t+1} ⊆ K_t: every leaf that
ever changes or fires at b then lies in one contiguous run at the left of each tree, and so do its
ancestors, so Update and Query read contiguous memory instead of lines scattered over all 2M nodes.

Every kernel returns the number of tree nodes it touched (a node read to decide
where to descend, or a node written), so cost can be checked as a count.
"""

import numpy as np
from numba import njit, prange

def padded_size(m):
    """Smallest power of two >= m (at least 1): the number of leaves per tree."""
    return 1 << max(int(m) - 1, 0).bit_length()


@njit(cache=True, parallel=True)
def build_trees(U, M, nodes, order):
    """Init (Algorithm 2) given the leaf matrix U (n, m) in neuron order: fill all n trees bottom-up,
    slot s holding neuron order[s] (slot r holding neuron r when `order` is empty).

    O(M) per tree. Returns the nodes touched (every node of every tree).
    """
    n, m = U.shape
    ident = order.shape[0] == 0
    for i in prange(n):
        for s in range(m):
            nodes[i, M + s] = U[i, s] if ident else U[i, order[s]]
        for r in range(m, M):
            nodes[i, M + r] = -np.inf
        for k in range(M - 1, 0, -1):
            left = nodes[i, 2 * k]
            right = nodes[i, 2 * k + 1]
            nodes[i, k] = left if left >= right else right
        nodes[i, 0] = -np.inf
    return n * (2 * M - 1)


@njit(cache=True)
def update_leaf(nodes, M, j, u):
    """Update (Algorithm 3) of the neuron in slot j in all n trees: leaf j of tree i gets u[i].

    Walks from the leaf towards the root and stops as soon as a node keeps its
    value (its ancestors then keep theirs): O(n log M) at worst.
    """
    n = nodes.shape[0]
    touched = 0
    for i in range(n):
        k = M + j
        nodes[i, k] = u[i]
        touched += 1
        k >>= 1
        while k >= 1:
            left = nodes[i, 2 * k]
            right = nodes[i, 2 * k + 1]
            new = left if left >= right else right
            touched += 1
            if new == nodes[i, k]:
                break
            nodes[i, k] = new
            k >>= 1
    return touched


@njit(inline="always")
def _update_tree(nodes, M, i, idx, UT, cur, nxt):
    """The batched Update of tree i: slots idx (ascending, distinct) get UT[i]; returns the nodes touched.

    The changed leaves are written first, then the internal nodes above them are refreshed level by
    level, bottom-up, each at most once: when the changed leaves are dense in their run, every node above
    the run; otherwise only the parents of changed nodes, a node whose value does not change stopping the
    walk above it.
    Branch-free: every node of a level is written (an unchanged one with its own value) and goes up
    only if it changed and is not its sibling's parent again, by adding a 0 or 1 to the list's length
    — whether a max changes is a coin toss the branch predictor loses (45 → 34 ms for 16 trees ×
    1.8·10⁵ changed leaves)."""
    k = idx.shape[0]
    touched = k
    ncur = 0
    for q in range(k):
        pos = M + idx[q]
        old = nodes[i, pos]
        nodes[i, pos] = UT[i, q]
        cur[ncur] = pos
        ncur += old != UT[i, q]
    if ncur > 1 and cur[ncur - 1] - cur[0] < 2 * ncur:
        # the changed leaves fill at least half of their run (training's K_0-first order: all of K_t lies in
        # the first |K_0| slots): every node above the run, one run per level, recomputed in order — a
        # streaming pass with no list and no dependent reads (the same values: a node outside the runs has
        # no changed leaf below it)
        lo, hi = cur[0], cur[ncur - 1]
        while lo > 1:
            lo >>= 1
            hi >>= 1
            for p in range(lo, hi + 1):
                left = nodes[i, 2 * p]
                right = nodes[i, 2 * p + 1]
                nodes[i, p] = left if left >= right else right
            touched += hi - lo + 1
        return touched
    # sparse: cur holds nodes of one level in ascending order, so equal parents are adjacent.
    while ncur > 0 and cur[0] > 1:
        nnxt = 0
        last = -1
        for q in range(ncur):
            p = cur[q] >> 1
            fresh = p != last  # a parent its other child already refreshed: recomputed (same value), not counted
            last = p
            left = nodes[i, 2 * p]
            right = nodes[i, 2 * p + 1]
            new = left if left >= right else right
            old = nodes[i, p]
            nodes[i, p] = new
            touched += fresh
            nxt[nnxt] = p
            nnxt += fresh and new != old
        cur, nxt = nxt, cur
        ncur = nnxt
    return touched


@njit(cache=True)
def update_leaves(nodes, M, idx, UT):
    """Batched Update (Algorithm 3, each touched ancestor once): slots idx (ascending, distinct) get leaf
    values UT (n, len(idx)), UT[i, q] for tree i — point-major, so each tree reads its values contiguously.
    Returns the nodes touched (leaves written + internal nodes recomputed). One tree after another: for a
    small batch an OpenMP barrier costs more than the work (`update_leaves_parallel` is for large ones)."""
    k = idx.shape[0]
    cur = np.empty(k, dtype=np.int64)
    nxt = np.empty(k, dtype=np.int64)
    touched = 0
    for i in range(nodes.shape[0]):
        touched += _update_tree(nodes, M, i, idx, UT, cur, nxt)
    return touched


@njit(cache=True, parallel=True)
def update_leaves_parallel(nodes, M, idx, UT):
    """`update_leaves` with the trees shared among threads (the same nodes, the same count)."""
    n, k = nodes.shape[0], idx.shape[0]
    touched = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        cur = np.empty(k, dtype=np.int64)
        nxt = np.empty(k, dtype=np.int64)
        touched[i] = _update_tree(nodes, M, i, idx, UT, cur, nxt)
    return touched.sum()


#: changed leaves × trees from which the batched Update shares the trees among threads
PARALLEL_UPDATE = 1 << 16


@njit(cache=True)
def _descend(nodes, M, i, lo, hi, out, report, cur, nxt):
    """Walk tree i into nodes whose max exceeds lo; leaves with lo < u <= hi are hits.

    Level by level (breadth first): every node of a level is read, and the children of those above lo
    make the next level, appended branch-free (the list grows by 0 or 2) — the same nodes a depth-first
    walk reads, but the reads of a level are independent, so they overlap instead of each waiting for
    the branch on the one before (21 → 9 ms for the 16 queries at 2^22). Levels stay ascending, so hits
    come out in ascending slot order. cur, nxt: int64 scratch of length >= M (the widest level).
    Returns (number of hits, nodes touched). Writes hits into `out` when report.
    """
    cur[0] = 1
    ncur = 1
    touched = 0
    while ncur > 0 and cur[0] < M:  # internal levels (all leaves are at depth log2 M)
        touched += ncur
        nnxt = 0
        for q in range(ncur):
            k = cur[q]
            nxt[nnxt] = 2 * k
            nxt[nnxt + 1] = 2 * k + 1
            nnxt += 2 * (nodes[i, k] > lo)
        cur, nxt = nxt, cur
        ncur = nnxt
    touched += ncur
    count = 0
    room = out.shape[0]
    for q in range(ncur):  # the leaf level: each slot written where the next hit goes, kept if it is one
        v = nodes[i, cur[q]]
        if report and count < room:
            out[count] = cur[q] - M
        count += (v > lo) and (v <= hi)
    return count, touched


@njit(cache=True)
def query(nodes, M, i, tau, out):
    """Query (Algorithm 4): slots whose u > tau (strict, docs/theory.md §1), ascending.

    Touches at most 1 + 2·K·log2(M) nodes for K hits: only ancestors of hits
    exceed tau, and each such ancestor makes the walk read its two children.
    `out` must have room for every hit (length >= m). Returns (K, touched).
    """
    return _descend(nodes, M, i, tau, np.inf, out, True, np.empty(M, dtype=np.int64), np.empty(M, dtype=np.int64))


@njit(cache=True)
def band(nodes, M, i, lo, hi, out, report):
    """Slots with lo < u <= hi (near the threshold); report=False only counts.

    A max-tree prunes on the lower end only, so the cost is that of a query at lo.
    """
    return _descend(nodes, M, i, lo, hi, out, report, np.empty(M, dtype=np.int64), np.empty(M, dtype=np.int64))


@njit(cache=True)
def query_all(nodes, M, m, tau, order):
    """Query every tree at tau: fire sets as CSR (indptr (n+1,), indices: neuron ids, ascending per point),
    plus nodes touched and, per point, whether its ids came out unsorted. Hits come out in slot order; through
    `order` (slot → neuron, empty: identity) they are ascending neuron ids within any run of slots whose neurons
    ascend; a point whose hits span two such runs (never at b for the K_0-first order of training: all hits are
    in K_0) is flagged, and the caller sorts it. Not here: Numba's np.sort compiled into this cached kernel was
    seen to return an unsorted run in a process that had loaded other cached kernels that sort (a clash between
    cached sort helpers), so the sort is NumPy's, outside."""
    n = nodes.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    scratch = np.empty(max(m, 1), dtype=np.int64)
    cur = np.empty(M, dtype=np.int64)
    nxt = np.empty(M, dtype=np.int64)
    indices = np.empty(max(1024, 4 * n), dtype=np.int64)
    unsorted = np.zeros(n, dtype=np.bool_)
    touched = 0
    for i in range(n):
        K, t = _descend(nodes, M, i, tau, np.inf, scratch, True, cur, nxt)
        touched += t
        start = indptr[i]
        if start + K > indices.shape[0]:
            grown = np.empty(max(2 * indices.shape[0], start + K), dtype=np.int64)
            grown[:start] = indices[:start]
            indices = grown
        if order.shape[0] == 0:
            indices[start:start + K] = scratch[:K]
        else:
            for q in range(K):
                indices[start + q] = order[scratch[q]]
                if q and indices[start + q] < indices[start + q - 1]:
                    unsorted[i] = True
        indptr[i + 1] = start + K
    return indptr, indices[:indptr[n]].copy(), touched, unsorted
