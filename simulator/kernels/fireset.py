"""Direct fire-set index and the exact Gram from incidence (SPEC §6).

With the threshold b fixed during training, the incidence {(i, r) : u_{r,i} > b}
can be kept directly: per point i an unordered member list `members[i, :count[i]]`
and the inverse position `pos[i, r]` (-1 when r is not in S_i). A changed neuron
is added or swap-removed in O(1) per point, so O(n) per changed neuron. Sorted
fire sets are produced on demand as CSR arrays (indptr, indices).

The Gram identity (SPEC §1, exact): G = (X Xᵀ) ∘ (B Bᵀ) / m, where B is the
0/1 fire incidence, i.e. G_ij = <x_i, x_j> · |S_i ∩ S_j| / m.
"""

import numpy as np
from numba import njit


def allocate(n, m):
    """Empty index arrays for n points and m neurons: (members, pos, count)."""
    members = np.empty((n, max(m, 1)), dtype=np.int64)
    pos = np.full((n, m), -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    return members, pos, count


@njit(cache=True)
def build(U, b, members, pos, count):
    """Fill the index from the leaf matrix U (n, m): S_i = {r : U[i, r] > b}. O(mn)."""
    n, m = U.shape
    for i in range(n):
        c = 0
        for r in range(m):
            if U[i, r] > b:
                members[i, c] = r
                pos[i, r] = c
                c += 1
            else:
                pos[i, r] = -1
        count[i] = c


@njit(cache=True)
def update(neurons, U_rows, b, members, pos, count):
    """Neurons `neurons` now have leaf values U_rows (len(neurons), n): fix their membership.

    O(n) per neuron. Returns the number of (point, neuron) memberships that changed.
    """
    n = members.shape[0]
    changed = 0
    for q in range(neurons.shape[0]):
        r = neurons[q]
        for i in range(n):
            fires = U_rows[q, i] > b
            p = pos[i, r]
            if fires and p < 0:
                c = count[i]
                members[i, c] = r
                pos[i, r] = c
                count[i] = c + 1
                changed += 1
            elif p >= 0 and not fires:
                last = count[i] - 1
                moved = members[i, last]
                members[i, p] = moved
                pos[i, moved] = p
                pos[i, r] = -1
                count[i] = last
                changed += 1
    return changed


@njit(cache=True)
def to_csr(members, count):
    """Fire sets as CSR with ascending neuron ids per point. O(Σ K_i log K_i)."""
    n = count.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        indptr[i + 1] = indptr[i] + count[i]
    indices = np.empty(indptr[n], dtype=np.int64)
    for i in range(n):
        indices[indptr[i]:indptr[i + 1]] = np.sort(members[i, :count[i]])
    return indptr, indices


@njit(cache=True)
def _intersection_size(a, b):
    """|a ∩ b| for two ascending int arrays, by merging."""
    p = 0
    q = 0
    c = 0
    while p < a.shape[0] and q < b.shape[0]:
        if a[p] < b[q]:
            p += 1
        elif a[p] > b[q]:
            q += 1
        else:
            c += 1
            p += 1
            q += 1
    return c


@njit(cache=True)
def gram_from_csr(indptr, indices, XXt, m):
    """Exact Gram G_ij = <x_i,x_j>·|S_i ∩ S_j|/m from sorted fire sets. O(n·Σ_i K_i)."""
    n = indptr.shape[0] - 1
    G = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        Si = indices[indptr[i]:indptr[i + 1]]
        for j in range(i, n):
            c = _intersection_size(Si, indices[indptr[j]:indptr[j + 1]])
            G[i, j] = XXt[i, j] * c / m
    for i in range(n):
        for j in range(i):
            G[i, j] = G[j, i]
    return G
