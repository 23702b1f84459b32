"""Direct fire-set index and the exact Gram from incidence (docs/theory.md §6).

With the threshold b fixed during training, the incidence {(i, r) : u_{r,i} > b}
can be kept directly: per point i an unordered member list `members[i, :count[i]]`
and the inverse position `posT[r, i]` (-1 when r is not in S_i). A changed neuron
is added or swap-removed in O(1) per point, so O(n) per changed neuron. The index
also owns the leaves LT (m, n), LT[r, i] = u_{r,i}, neuron-major so that a changed
neuron's n leaves and positions are adjacent in memory (one or two cache lines,
not n scattered ones). Fire sets are produced as CSR arrays (indptr, indices).

The Gram identity (docs/theory.md §1, exact): G = (X Xᵀ) ∘ (B Bᵀ) / m, where B is the
0/1 fire incidence, i.e. G_ij = <x_i, x_j> · |S_i ∩ S_j| / m.
"""

import numpy as np
from numba import njit

from simulator.kernels.jacobian import gram_counts


def allocate(n, m):
    """Index arrays for n points and m neurons, to be filled by `build`: (members, posT, count)."""
    members = np.empty((n, max(m, 1)), dtype=np.int64)
    # int32 positions (< m) halve the bytes a changed neuron touches: measured 22 -> 20 ms per
    # step at m = 2^22; int64 only where m could overflow them.
    posT = np.empty((m, n), dtype=np.int32 if m < 2**31 else np.int64)  # `build` writes every entry
    count = np.zeros(n, dtype=np.int64)
    return members, posT, count


@njit(cache=True)
def build(LT, b, members, posT, count):
    """Fill the index from the leaves LT (m, n): S_i = {r : LT[r, i] > b}, ascending. O(mn)."""
    m, n = LT.shape
    count[:] = 0
    for r in range(m):  # neuron-major, the arrays' own order; members come out ascending
        for i in range(n):
            if LT[r, i] > b:
                c = count[i]
                members[i, c] = r
                posT[r, i] = c
                count[i] = c + 1
            else:
                posT[r, i] = -1


@njit(cache=True, inline="always")
def _set_member(r, i, fires, members, posT, count):
    """Make r a member of S_i iff `fires`: add at the end or swap-remove, O(1). Returns 1 if it changed."""
    p = posT[r, i]
    if fires and p < 0:
        c = count[i]
        members[i, c] = r
        posT[r, i] = c
        count[i] = c + 1
        return 1
    if p >= 0 and not fires:
        last = count[i] - 1
        moved = members[i, last]
        members[i, p] = moved
        posT[moved, i] = p
        posT[r, i] = -1
        count[i] = last
        return 1
    return 0


@njit(cache=True)
def update(neurons, rows, add, b, LT, members, posT, count):
    """Neurons `neurons` get leaves rows[q] (add=False) or LT[r] + rows[q] (add=True); fix membership.

    One pass per neuron over its n adjacent leaves and positions: O(n) per neuron.
    Returns the number of (point, neuron) memberships that changed.
    """
    n = LT.shape[1]
    changed = 0
    for q in range(neurons.shape[0]):
        r = neurons[q]
        for i in range(n):
            u = LT[r, i] + rows[q, i] if add else rows[q, i]
            LT[r, i] = u
            changed += _set_member(r, i, u > b, members, posT, count)
    return changed


@njit(cache=True)
def to_csr(members, count, sort):
    """Fire sets as CSR; ascending neuron ids per point when `sort` (O(Σ K_i log K_i)),
    else in the index's own order (O(Σ K_i), enough for a training step)."""
    n = count.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        indptr[i + 1] = indptr[i] + count[i]
    indices = np.empty(indptr[n], dtype=np.int64)
    for i in range(n):
        indices[indptr[i]:indptr[i + 1]] = members[i, :count[i]]
        if sort:
            indices[indptr[i]:indptr[i + 1]].sort()
    return indptr, indices


@njit(cache=True)
def gram_from_csr(indptr, indices, XXt, m):
    """Exact Gram G_ij = <x_i,x_j>·|S_i ∩ S_j|/m from CSR fire sets (any order within a point).

    When every point's ids ascend strictly (every index here reports them so), |S_i ∩ S_j| is one merge of
    two sorted lists per pair: O(n·nnz), 18 ms at 2^22 (n = 16) where the sort below took 25. Otherwise entries
    are grouped by neuron (one sort of the nnz ids), then each neuron r adds 1 to the count of every pair
    of points in F_r: O(nnz log nnz + Σ_r |F_r|²). The counts are integers: the same G either way.
    """
    n = indptr.shape[0] - 1
    nnz = indptr[n]
    C = np.zeros((n, n), dtype=np.int64)
    if _strictly_ascending(indptr, indices):
        for i in range(n):
            C[i, i] = indptr[i + 1] - indptr[i]
            for j in range(i + 1, n):
                p, q, c = indptr[i], indptr[j], 0
                while p < indptr[i + 1] and q < indptr[j + 1]:
                    a, b = indices[p], indices[q]
                    c += a == b
                    p += a <= b
                    q += b <= a
                C[i, j] = C[j, i] = c
        return _scaled_gram(C, XXt, m)
    point = np.empty(nnz, dtype=np.int64)
    for i in range(n):
        point[indptr[i]:indptr[i + 1]] = i
    order = np.argsort(indices[:nnz])
    start = 0
    while start < nnz:
        stop = start + 1
        while stop < nnz and indices[order[stop]] == indices[order[start]]:
            stop += 1
        for p in range(start, stop):
            i = point[order[p]]
            for q in range(start, stop):
                C[i, point[order[q]]] += 1
        start = stop
    return _scaled_gram(C, XXt, m)


def gram_from_neuron_major(kptr, kpts, XXt, m):
    """The same exact Gram from neuron-major fire sets (neuron q fires on the points kpts[kptr[q]:kptr[q+1]]):
    each neuron adds 1 to the count of every pair of its points (`jacobian.gram_counts`), O(Σ_r |F_r|²) — a few
    hundred thousand additions at 2^22 where the merges of `gram_from_csr` take 18 ms. The same integer counts,
    so the same G."""
    return _scaled_gram(gram_counts(kptr, kpts, XXt.shape[0]), XXt, m)


@njit(cache=True)
def _strictly_ascending(indptr, indices):
    """Whether every point's ids ascend strictly (stops at the first that does not)."""
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i] + 1, indptr[i + 1]):
            if indices[p] <= indices[p - 1]:
                return False
    return True


@njit(cache=True)
def _scaled_gram(C, XXt, m):
    n = C.shape[0]
    G = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(n):
            G[i, j] = XXt[i, j] * C[i, j] / m
    return G


@njit(cache=True)
def set_memberships(neurons, nptr, npts, members, posT, count):
    """Neuron neurons[q] now fires exactly on the points npts[nptr[q]:nptr[q+1]]; fix membership.

    Seed 001 Algorithm 3 lines 11-13 (S_i.DEL(r) for the points r left, S_i.ADD(r) for those it
    joined) from a neuron-major CSR of the new dual sets S̃_r, e.g. a half-space query per neuron.
    O(n) per neuron. Returns the number of (point, neuron) memberships that changed.
    """
    n = count.shape[0]
    changed = 0
    now = np.zeros(n, dtype=np.bool_)
    for q in range(neurons.shape[0]):
        r = neurons[q]
        for i in range(n):
            now[i] = False
        for p in range(nptr[q], nptr[q + 1]):
            now[npts[p]] = True
        for i in range(n):
            changed += _set_member(r, i, now[i], members, posT, count)
    return changed
