"""The paper's data structures as small public classes over the Numba kernels.

ThresholdTree — seed 002 Appendix B (Init / Update / Query, Theorem B.1): one
max-tree per data point over u_{r,i} = <w_r, x_i>.
FireSetIndex — the direct incidence index of docs/theory.md §6 for a fixed threshold b.

Inputs are checked here, so the kernels below can assume clean arrays: bad
input raises ValueError naming the argument, never a Numba error.
"""

import numpy as np

from simulator import checks
from simulator.kernels import fireset as _fs
from simulator.kernels import tree as _tree

_IDENTITY = np.empty(0, dtype=np.int64)  # `order` for the kernels: slot = neuron


def _matrix(name, A, cols=None):
    return checks.matrix(name, A, cols)


def _neuron_ids(name, idx, m):
    return checks.ids(name, idx, m, "neuron")


def _permutation(name, order, m):
    order = np.asarray(order)
    ok = order.shape == (m,) and order.dtype.kind in "iu"
    if ok:
        order = order.astype(np.int64)
        ok = order.min() >= 0 and order.max() < m and np.all(np.bincount(order, minlength=m) == 1)
    if not ok:
        raise ValueError(f"{name}: must be a permutation of the {m} neuron ids 0 … {m - 1}")
    return order


def _threshold(name, tau):
    tau = float(tau)
    if np.isnan(tau):
        raise ValueError(f"{name}: threshold is NaN")
    return tau


class ThresholdTree:
    """n max-trees over the leaves u_{r,i} = <w_r, x_i> (seed 002, Algorithms 2-4).

    >>> t = ThresholdTree(W, X)          # Init, O(mnd): one GEMM then O(m) per tree
    >>> t.query(i, tau)                  # ascending r with <w_r, x_i> > tau, O(K log m)
    >>> t.update(j, z)                   # w_j <- z, O(n(d + log m))
    >>> t.update_many(idx, Z)            # batched Update, shared ancestors refreshed once
    >>> t.set_leaves(idx, U_rows)        # new inner products for neurons idx, no d work
    >>> t.nodes_touched                  # running count of tree nodes touched

    Neuron ids in and out are always the caller's. `from_leaves(U, order=...)` chooses which neuron sits in
    which leaf slot (kernels/tree.py): training puts the neurons that fire at t = 0 first, so that every
    leaf it ever changes, and every hit at b, lies in one contiguous run of each tree.
    """

    def __init__(self, W, X, order=None):
        X = _matrix("X", X)
        W = _matrix("W", W, cols=X.shape[1])
        self._X = X
        self._W = W.copy()
        self._init_from_leaves(X @ W.T, order)

    @classmethod
    def from_leaves(cls, U, X=None, order=None):
        """Trees over a given leaf matrix U (n, m), U[i, r] = u_{r,i}; no weights kept.

        With the points X (n, d), `update`/`update_many` work too (they need only X).
        order: None (slot r holds neuron r) or a permutation of 0 … m−1, order[s] = the neuron in slot s.
        """
        self = cls.__new__(cls)
        U = _matrix("U", U)
        self._X = None if X is None else _matrix("X", X)
        if self._X is not None and self._X.shape[0] != U.shape[0]:
            raise ValueError(f"X: expected {U.shape[0]} rows (one per point of U), got {self._X.shape[0]}")
        self._W = None
        self._init_from_leaves(U, order)
        return self

    def _init_from_leaves(self, U, order):
        self.n, self.m = U.shape
        if self.m < 1 or self.n < 1:
            raise ValueError(f"need at least one neuron and one point, got m={self.m}, n={self.n}")
        self._order = self._slot = None
        if order is not None:
            self._order = _permutation("order", order, self.m)
            self._slot = np.empty(self.m, dtype=np.int64)
            self._slot[self._order] = np.arange(self.m, dtype=np.int64)
        self.M = _tree.padded_size(self.m)
        self._nodes = np.empty((self.n, 2 * self.M), dtype=np.float64)
        self.nodes_touched = int(_tree.build_trees(U, self.M, self._nodes, self._order_arg()))
        self._scratch = np.empty(self.m, dtype=np.int64)

    def _order_arg(self):
        return _IDENTITY if self._order is None else self._order

    def _neurons(self, slots):
        """Neuron ids, ascending, of the given ascending slots."""
        return slots.copy() if self._order is None else np.sort(self._order[slots])

    def slots(self, idx):
        """The leaf slots of neurons idx (idx itself when slots are neuron ids)."""
        idx = np.asarray(idx, dtype=np.int64)
        return idx if self._slot is None else self._slot[idx]

    @property
    def order(self):
        """order[s] = the neuron in leaf slot s (a copy; 0 … m−1 when no order was given)."""
        return np.arange(self.m, dtype=np.int64) if self._order is None else self._order.copy()

    def _point(self, i):
        if not (isinstance(i, (int, np.integer)) and 0 <= i < self.n):
            raise ValueError(f"i: point index must be an integer in [0, {self.n}), got {i!r}")
        return int(i)

    # -- Query -----------------------------------------------------------------
    def query(self, i, tau):
        """Neurons r with u_{r,i} > tau (strict), ascending int64 array."""
        i = self._point(i)
        K, touched = _tree.query(self._nodes, self.M, i, _threshold("tau", tau), self._scratch)
        self.nodes_touched += int(touched)
        return self._neurons(self._scratch[:K])

    def query_all(self, tau):
        """Every tree at tau: fire sets as CSR arrays (indptr (n+1,), indices)."""
        indptr, indices, touched, unsorted = _tree.query_all(self._nodes, self.M, self.m, _threshold("tau", tau),
                                                             self._order_arg())
        self.nodes_touched += int(touched)
        for i in np.flatnonzero(unsorted):  # hits of a point spread over slots whose neurons do not ascend
            indices[indptr[i]:indptr[i + 1]].sort()
        return indptr, indices

    def query_slots(self, tau):
        """`query_all` in leaf slots: (indptr, slots ascending per point), no mapping to neuron ids."""
        indptr, slots, touched, _ = _tree.query_all(self._nodes, self.M, self.m, _threshold("tau", tau), _IDENTITY)
        self.nodes_touched += int(touched)
        return indptr, slots

    def neurons_at(self, slots):
        """The neuron ids in the given leaf slots (slots itself when slots are neuron ids)."""
        slots = np.asarray(slots, dtype=np.int64)
        return slots.copy() if self._order is None else self._order[slots]

    def count_band(self, i, lo, hi):
        """How many neurons have lo < u_{r,i} <= hi (e.g. near the threshold b)."""
        i = self._point(i)
        K, touched = _tree.band(self._nodes, self.M, i, _threshold("lo", lo), _threshold("hi", hi),
                                self._scratch, False)
        self.nodes_touched += int(touched)
        return int(K)

    def report_band(self, i, lo, hi):
        """Neurons with lo < u_{r,i} <= hi, ascending."""
        i = self._point(i)
        K, touched = _tree.band(self._nodes, self.M, i, _threshold("lo", lo), _threshold("hi", hi),
                                self._scratch, True)
        self.nodes_touched += int(touched)
        return self._neurons(self._scratch[:K])

    # -- Update ----------------------------------------------------------------
    def _need_points(self):
        if self._X is None:
            raise ValueError("this tree was built from leaves without the points X, so it cannot compute "
                             "<z, x_i>; build it with ThresholdTree(W, X) or from_leaves(U, X), or use set_leaves")

    @property
    def weights(self):
        """The weights W (m, d) the leaves are inner products of, or None once `set_leaves` made them unknown."""
        return None if self._W is None else self._W.copy()

    def update(self, j, z):
        """Update (Algorithm 3): w_j <- z; leaf j of every tree gets <z, x_i>. Needs only the points X."""
        self._need_points()
        if not (isinstance(j, (int, np.integer)) and 0 <= j < self.m):
            raise ValueError(f"j: neuron index must be an integer in [0, {self.m}), got {j!r}")
        z = _matrix("z", np.asarray(z).reshape(1, -1) if np.ndim(z) == 1 else z, cols=self._X.shape[1])
        if z.shape[0] != 1:
            raise ValueError(f"z: expected one weight vector of length {self._X.shape[1]}, got shape {z.shape}")
        if self._W is not None:
            self._W[j] = z[0]
        u = self._X @ z[0]
        slot = int(j) if self._slot is None else int(self._slot[j])
        self.nodes_touched += int(_tree.update_leaf(self._nodes, self.M, slot, u))

    def update_many(self, idx, Z):
        """Batched Update: w_idx[q] <- Z[q] for every q. Needs only the points X."""
        self._need_points()
        idx = _neuron_ids("idx", idx, self.m)
        Z = _matrix("Z", Z, cols=self._X.shape[1])
        if Z.shape[0] != idx.size:
            raise ValueError(f"Z: expected {idx.size} rows (one per neuron in idx), got {Z.shape[0]}")
        if self._W is not None:
            self._W[idx] = Z
        self._set(idx, Z @ self._X.T)

    def set_leaves(self, idx, U_rows, trusted=False):
        """Neurons idx get leaf values U_rows (len(idx), n) in every tree; no d work.

        The caller keeps the weights: a tree built with weights no longer knows them after this
        (`weights` is None), but `update` still works, since it needs only the points X.
        trusted=True skips the checks for a caller that guarantees idx is an int64 array of
        distinct ids in range and U_rows finite float64 (a solver's K).
        """
        if not trusted:
            idx = _neuron_ids("idx", idx, self.m)
            U_rows = _matrix("U_rows", U_rows, cols=self.n)
            if U_rows.shape[0] != idx.size:
                raise ValueError(f"U_rows: expected {idx.size} rows (one per neuron in idx), got {U_rows.shape[0]}")
        self._W = None
        self._set(idx, U_rows)

    def set_leaves_at_slots(self, slots, UT):
        """The batched Update by slot: leaf slots `slots` (distinct, ascending int64) get the values UT
        (n, len(slots)) (finite float64); unchecked, for a caller that works in slots (the tree index)."""
        self._W = None
        self._update(slots, UT)

    def _set(self, idx, U):
        """Neurons idx (distinct) get leaves U (len(idx), n): the batched Update over their slots, ascending."""
        slots = self.slots(idx)
        UT = U.T
        if slots.size > 1 and np.any(slots[1:] < slots[:-1]):  # ascending neurons of K_0 are ascending slots
            at = np.argsort(slots, kind="stable")
            slots, UT = slots[at], UT[:, at]
        self._update(slots, UT)

    def _update(self, slots, UT):
        UT = np.ascontiguousarray(UT)
        kernel = _tree.update_leaves_parallel if UT.size >= _tree.PARALLEL_UPDATE else _tree.update_leaves
        self.nodes_touched += int(kernel(self._nodes, self.M, slots, UT))

    # -- Views -----------------------------------------------------------------
    @property
    def leaves(self):
        """The leaf matrix U (n, m), U[i, r] = u_{r,i}: a read-only view, or a copy when slots are permuted."""
        view = self.leaves_by_slot
        return view if self._slot is None else view[:, self._slot]

    @property
    def leaves_by_slot(self):
        """Read-only view of the leaves in slot order (n, m): [i, s] = u_{order[s], i}."""
        view = self._nodes[:, self.M:self.M + self.m]
        view.flags.writeable = False
        return view

    @property
    def nodes(self):
        """Read-only view of the flat node array (n, 2M) (node k: children 2k, 2k+1; leaf slot s: node M + s)."""
        view = self._nodes.view()
        view.flags.writeable = False
        return view


class FireSetIndex:
    """Fire sets S_i = {r : u_{r,i} > b} for a fixed b, kept directly (docs/theory.md §6).

    Owns the leaves (neuron-major, see kernels/fireset.py). O(n) per changed neuron;
    CSR fire sets and the exact Gram on demand.
    """

    def __init__(self, U, b):
        """Index over the leaf matrix U (n, m), U[i, r] = u_{r,i} (copied)."""
        self._init(np.ascontiguousarray(_matrix("U", U).T), b)

    @classmethod
    def from_leaves_by_neuron(cls, LT, b):
        """Index over neuron-major leaves LT (m, n), e.g. W0 @ Xᵀ; takes LT over without a copy."""
        self = cls.__new__(cls)
        self._init(_matrix("LT", LT), b)
        return self

    def _init(self, LT, b):
        self.b = _threshold("b", b)
        self.m, self.n = LT.shape
        self._LT = LT
        self._members, self._pos, self._count = _fs.allocate(self.n, self.m)
        _fs.build(self._LT, self.b, self._members, self._pos, self._count)
        self.memberships_changed = 0

    def _rows(self, idx, rows, trusted):
        if trusted:
            return idx, rows
        idx = _neuron_ids("idx", idx, self.m)
        rows = _matrix("U_rows", rows, cols=self.n)
        if rows.shape[0] != idx.size:
            raise ValueError(f"U_rows: expected {idx.size} rows, got {rows.shape[0]}")
        return idx, rows

    def update(self, idx, U_rows, trusted=False):
        """Neurons idx now have leaf values U_rows (len(idx), n).

        trusted=True skips the checks (distinct in-range int64 ids, finite float64 rows).
        """
        idx, U_rows = self._rows(idx, U_rows, trusted)
        self.memberships_changed += int(_fs.update(idx, U_rows, False, self.b, self._LT, self._members,
                                                   self._pos, self._count))

    def add(self, idx, deltas, trusted=False):
        """Leaves of neurons idx change by deltas (len(idx), n): u_{r,i} += deltas[q, i]."""
        idx, deltas = self._rows(idx, deltas, trusted)
        self.memberships_changed += int(_fs.update(idx, deltas, True, self.b, self._LT, self._members,
                                                   self._pos, self._count))

    @property
    def leaves_by_neuron(self):
        """Read-only view of the leaves, neuron-major: (m, n), [r, i] = u_{r,i}."""
        view = self._LT.view()
        view.flags.writeable = False
        return view

    @property
    def leaves(self):
        """Read-only view of the leaf matrix U (n, m), U[i, r] = u_{r,i}."""
        return self.leaves_by_neuron.T

    def fire_counts(self):
        return self._count.copy()

    def csr(self, sort=True):
        """Fire sets as CSR (indptr, indices); ascending neuron ids per point unless sort=False."""
        return _fs.to_csr(self._members, self._count, sort)

    def gram(self, X):
        """Exact G = (X Xᵀ) ∘ (B Bᵀ)/m from the incidence (docs/theory.md §1 identity)."""
        X = _matrix("X", X)
        if X.shape[0] != self.n:
            raise ValueError(f"X: expected {self.n} rows, got {X.shape[0]}")
        indptr, indices = self.csr(sort=False)
        return _fs.gram_from_csr(indptr, indices, X @ X.T, self.m)
