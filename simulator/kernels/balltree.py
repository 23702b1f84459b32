"""Ball tree over a point set, as flat arrays: an exact stand-in for half-space reporting.

Seed 001 (Song, Yang, Zhang, "Does preprocessing help training over-parameterized neural
networks?") keeps its points in a half-space reporting (HSR) structure: QUERY(x, b) returns every
i with <p_i, x> > b (strict, the project's convention: a point exactly at b is not reported), and
points move by id. The structure the paper cites (Agarwal-Eppstein-Matousek) is not practical;
these kernels give the same answers with a ball tree.

Layout, for N points in R^d and a tree of depth D (every leaf at depth D):

  P         (N, d) float64        the current points, row i = p_i (updates write here)
  order     (N,) int64            a permutation of 0..N-1; node k owns order[start[k]:end[k]]
  pos       (N,) int64            its inverse: order[pos[i]] = i
  Pt        (N, d) float64        the points in tree order, Pt[q] = P[order[q]] (updates write
                                  here too), so a leaf's points are contiguous rows and a
                                  query streams through memory instead of gathering rows of P
  start     (n_nodes,) int64      n_nodes = 2**(D+1) - 1; an implicit heap: node k has children
  end       (n_nodes,) int64      2k+1 and 2k+2, the root is node 0, the leaves are nodes
                                  n_internal = 2**D - 1 .. n_nodes - 1
  centres   (n_nodes, d) float64  c_k: the mean of node k's points at build time (never moved)
  radii     (n_nodes,) float64    rho_k >= ||p_i - c_k|| for every point i of node k (only grows)
  cnorm     (n_nodes,) float64    ||c_k||, which sizes the rounding slack below
  leaf_of   (N,) int64            the leaf holding point i

A node's range is split at its middle, mid = (start + end) // 2, after a quickselect along the
coordinate of largest spread (max - min) of its points, so the sizes on one level differ by at
most one and D = the smallest depth with ceil(N / 2**D) <= leaf_size (see `layout`). The
coordinate split rather than the principal direction: it costs one O(n d) pass plus an O(n)
selection per node with no iteration, is deterministic, and for the isotropic point clouds of the
paper (weights ~ N(0, I_d)) no direction is preferred, so a power iteration would buy nothing.
With leaf_size = 1 a one-point node may have an empty child; empty nodes (size 0, centre 0,
radius 0) are never visited.

Why a query is exact. For every point p of node k, Cauchy-Schwarz gives
    <p, x> = <c_k, x> + <p - c_k, x> <= <c_k, x> + rho_k ||x||,
    <p, x> >= <c_k, x> - rho_k ||x||,
so a node with <c_k, x> + rho_k ||x|| <= b holds no reported point (pruned), a node with
<c_k, x> - rho_k ||x|| > b holds only reported points (taken whole, no test), and a leaf that is
neither tests each point. Both tests are made with a slack of 4 (d + 4) eps (||c_k|| + rho_k) ||x||,
which exceeds the rounding error of every float64 quantity involved (the centre's dot product,
the norms, the radius, and the point's own dot product), so the answer is exactly the set of i
whose computed <p_i, x> (a float64 sum over the coordinates in order) is > b, barring overflow
and underflow. Updates keep rho_k >= ||p - c_k|| for every point now in node k, so they keep this.

Every kernel reports its work as a count: nodes visited by a query (a node whose centre was
dotted with x), nodes whose radius grew in an update, point reads in a build.
"""

import numpy as np
from numba import njit

# Depth of the explicit DFS stack: a tree of depth D <= 62 never holds more than one pending
# sibling per level plus one.
_STACK = 128
_EPS = np.finfo(np.float64).eps
# absolute part of the slack (a node exactly at b with x = 0 or subnormal products stays safe)
_TINY = 1e-300


def layout(N, leaf_size):
    """(depth, n_nodes): the smallest depth D with ceil(N / 2**D) <= leaf_size, and 2**(D+1) - 1."""
    N, leaf_size = int(N), int(leaf_size)
    depth = 0
    while -(-N >> depth) > leaf_size:  # ceil(N / 2**depth)
        depth += 1
    return depth, (1 << (depth + 1)) - 1


def allocate(N, d, leaf_size):
    """Empty arrays (Pt, order, pos, start, end, centres, radii, cnorm, leaf_of) for `build`,
    and the depth."""
    depth, n_nodes = layout(N, leaf_size)
    return (np.empty((N, d), dtype=np.float64), np.empty(N, dtype=np.int64),
            np.empty(N, dtype=np.int64), np.empty(n_nodes, dtype=np.int64),
            np.empty(n_nodes, dtype=np.int64), np.empty((n_nodes, d), dtype=np.float64),
            np.empty(n_nodes, dtype=np.float64), np.empty(n_nodes, dtype=np.float64),
            np.empty(N, dtype=np.int64)), depth


@njit(cache=True)
def _select(P, order, lo, hi, t, j):
    """Reorder order[lo:hi] so that the point at position t has rank t - lo along coordinate j,
    those before it are <= it and those after >= it.

    Quickselect with a median-of-three pivot and a three-way partition (<, ==, >), so runs of
    equal keys cost one pass. Expected O(hi - lo). Returns the keys read.
    """
    reads = 0
    while hi - lo > 1:
        a = P[order[lo], j]
        m = P[order[(lo + hi) // 2], j]
        c = P[order[hi - 1], j]
        if a < m:
            pv = m if m < c else (c if a < c else a)
        else:
            pv = a if a < c else (c if m < c else m)
        lt = lo
        i = lo
        gt = hi
        while i < gt:
            v = P[order[i], j]
            reads += 1
            if v < pv:
                tmp = order[lt]
                order[lt] = order[i]
                order[i] = tmp
                lt += 1
                i += 1
            elif v > pv:
                gt -= 1
                tmp = order[gt]
                order[gt] = order[i]
                order[i] = tmp
            else:
                i += 1
        # [lo, lt) < pv, [lt, gt) == pv (never empty: pv is one of the keys), [gt, hi) > pv
        if t < lt:
            hi = lt
        elif t >= gt:
            lo = gt
        else:
            break
    return reads


@njit(cache=True)
def build(P, Pt, order, pos, start, end, centres, radii, cnorm, leaf_of):
    """Fill the tree over the points P (N, d), top-down in heap order; the depth is fixed by the
    array sizes (n_nodes = len(radii) = 2**(D+1) - 1). Pt and pos are filled last.

    Per node: one pass for the mean and the per-coordinate min/max, one for the radius, and (if
    internal) a quickselect at the middle along the coordinate of largest spread; each level
    reads every point O(1) times, so O(N d D) = O(N d log N) in all. Returns the point reads.
    """
    N, d = P.shape
    n_nodes = radii.shape[0]
    n_internal = n_nodes >> 1
    for i in range(N):
        order[i] = i
    start[0] = 0
    end[0] = N
    lo = np.empty(d, dtype=np.float64)
    hi = np.empty(d, dtype=np.float64)
    work = 0
    for k in range(n_nodes):
        s = start[k]
        e = end[k]
        n = e - s
        for j in range(d):
            centres[k, j] = 0.0
            lo[j] = np.inf
            hi[j] = -np.inf
        for q in range(s, e):
            i = order[q]
            for j in range(d):
                v = P[i, j]
                centres[k, j] += v
                if v < lo[j]:
                    lo[j] = v
                if v > hi[j]:
                    hi[j] = v
        cn = 0.0
        if n > 0:
            for j in range(d):
                centres[k, j] /= n
                cn += centres[k, j] * centres[k, j]
        cnorm[k] = np.sqrt(cn)
        rad2 = 0.0
        for q in range(s, e):
            i = order[q]
            r2 = 0.0
            for j in range(d):
                t = P[i, j] - centres[k, j]
                r2 += t * t
            if r2 > rad2:
                rad2 = r2
        radii[k] = np.sqrt(rad2)
        work += 2 * n
        if k < n_internal:
            mid = (s + e) // 2
            if n >= 2:
                jbest = 0
                best = hi[0] - lo[0]
                for j in range(1, d):
                    if hi[j] - lo[j] > best:
                        best = hi[j] - lo[j]
                        jbest = j
                work += _select(P, order, s, e, mid, jbest)
            start[2 * k + 1] = s
            end[2 * k + 1] = mid
            start[2 * k + 2] = mid
            end[2 * k + 2] = e
        else:
            for q in range(s, e):
                leaf_of[order[q]] = k
    for q in range(N):
        i = order[q]
        pos[i] = q
        for j in range(d):
            Pt[q, j] = P[i, j]
    return work + N


@njit(cache=True)
def _search(Pt, order, start, end, centres, radii, cnorm, x, b, out):
    """DFS reporting every i with <p_i, x> > b into `out`, in no particular order.

    Returns (count, nodes visited). `out` needs room for N ids.
    """
    N, d = Pt.shape
    n_internal = radii.shape[0] >> 1
    nx2 = 0.0
    for j in range(d):
        nx2 += x[j] * x[j]
    nx = np.sqrt(nx2)
    tol = 4.0 * (d + 4) * _EPS
    stack = np.empty(_STACK, dtype=np.int64)
    count = 0
    visited = 0
    top = 0
    if end[0] > start[0]:
        stack[0] = 0
        top = 1
    while top > 0:
        top -= 1
        k = stack[top]
        visited += 1
        s = 0.0
        for j in range(d):
            s += centres[k, j] * x[j]
        r = radii[k] * nx
        slack = tol * (cnorm[k] + radii[k]) * nx + _TINY
        if s + r + slack <= b:
            continue  # no point of the ball exceeds b
        if s - r - slack > b:
            for q in range(start[k], end[k]):  # every point of the ball exceeds b
                out[count] = order[q]
                count += 1
            continue
        if k >= n_internal:
            # Four points at a time: four independent sums, each still over j in order, so every
            # <p, x> is bit-for-bit the sequential float64 sum.
            q = start[k]
            e = end[k]
            while q + 4 <= e:
                v0 = 0.0
                v1 = 0.0
                v2 = 0.0
                v3 = 0.0
                for j in range(d):
                    xj = x[j]
                    v0 += Pt[q, j] * xj
                    v1 += Pt[q + 1, j] * xj
                    v2 += Pt[q + 2, j] * xj
                    v3 += Pt[q + 3, j] * xj
                if v0 > b:
                    out[count] = order[q]
                    count += 1
                if v1 > b:
                    out[count] = order[q + 1]
                    count += 1
                if v2 > b:
                    out[count] = order[q + 2]
                    count += 1
                if v3 > b:
                    out[count] = order[q + 3]
                    count += 1
                q += 4
            while q < e:
                v = 0.0
                for j in range(d):
                    v += Pt[q, j] * x[j]
                if v > b:
                    out[count] = order[q]
                    count += 1
                q += 1
        else:
            right = 2 * k + 2
            left = 2 * k + 1
            if end[right] > start[right]:
                stack[top] = right
                top += 1
            if end[left] > start[left]:
                stack[top] = left
                top += 1
    return count, visited


@njit(cache=True)
def query(Pt, order, start, end, centres, radii, cnorm, x, b, out, sort=True):
    """QUERY(x, b): every i with <p_i, x> > b (strict), ascending (unless not `sort`), into out[:count].

    Prunes a node when <c, x> + rho ||x|| <= b, takes it whole when <c, x> - rho ||x|| > b (both
    with the rounding slack of the module docstring), tests each point of the other leaves.
    O(d) per visited node, O(d) per tested point, O(K log K) to sort K hits. `out` needs room
    for N ids. Returns (count, nodes visited).
    """
    count, visited = _search(Pt, order, start, end, centres, radii, cnorm, x, b, out)
    if sort:
        out[:count].sort()
    return count, visited


@njit(cache=True)
def query_all(Pt, order, start, end, centres, radii, cnorm, Q, b, sort=True):
    """QUERY(Q[r], b) for every row r of Q: CSR (indptr (nq+1,), indices), ids ascending per row
    when `sort` (else in the tree's order: a training step does not need them sorted, and the
    sort costs more than the search when a query reports many points), and the total nodes visited."""
    rows = np.arange(Q.shape[0])
    return query_rows(Pt, order, start, end, centres, radii, cnorm, Q, rows, b, sort)


@njit(cache=True)
def query_rows(Pt, order, start, end, centres, radii, cnorm, Q, rows, b, sort):
    """QUERY(Q[rows[q]], b) for the rows `rows` of Q (e.g. the moved neurons of a weight matrix,
    without gathering them): CSR over q as in `query_all`."""
    nq = rows.shape[0]
    N = Pt.shape[0]
    indptr = np.zeros(nq + 1, dtype=np.int64)
    scratch = np.empty(max(N, 1), dtype=np.int64)
    indices = np.empty(max(1024, 4 * nq), dtype=np.int64)
    visited = 0
    for r in range(nq):
        K, v = _search(Pt, order, start, end, centres, radii, cnorm, Q[rows[r]], b, scratch)
        visited += v
        if sort:
            scratch[:K].sort()
        at = indptr[r]
        if at + K > indices.shape[0]:
            grown = np.empty(max(2 * indices.shape[0], at + K), dtype=np.int64)
            grown[:at] = indices[:at]
            indices = grown
        indices[at:at + K] = scratch[:K]
        indptr[r + 1] = at + K
    return indptr, indices[:indptr[nq]].copy(), visited


@njit(cache=True)
def update(P, Pt, pos, centres, radii, leaf_of, i, z):
    """Point i moves to z: P[i] <- z and Pt[pos[i]] <- z, then every node from leaf_of[i] up to the root gets
    rho <- max(rho, ||z - c||). Centres stay, radii only grow, so every query stays exact.

    Walks the whole path (an ancestor's radius may grow although its child's did not: the centres
    differ): O(d (D + 1)). Returns (nodes whose radius grew, total growth of the radii).
    """
    d = P.shape[1]
    q = pos[i]
    for j in range(d):
        P[i, j] = z[j]
        Pt[q, j] = z[j]
    k = leaf_of[i]
    grown = 0
    growth = 0.0
    while True:
        r2 = 0.0
        for j in range(d):
            t = z[j] - centres[k, j]
            r2 += t * t
        r = np.sqrt(r2)
        if r > radii[k]:
            growth += r - radii[k]
            radii[k] = r
            grown += 1
        if k == 0:
            break
        k = (k - 1) >> 1
    return grown, growth


@njit(cache=True)
def update_many(P, Pt, pos, centres, radii, leaf_of, ids, Z):
    """Points ids[q] move to Z[q], in turn (ids distinct). Returns (radii grown, total growth),
    counting a node once per point that grew it."""
    grown = 0
    growth = 0.0
    for q in range(ids.shape[0]):
        g, h = update(P, Pt, pos, centres, radii, leaf_of, ids[q], Z[q])
        grown += g
        growth += h
    return grown, growth
