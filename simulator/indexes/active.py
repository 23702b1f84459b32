"""The active-set index (`index = "active"`): no per-point structure, only K_t and what travels with it.

A step moves only neurons of K_t = ∪_i S_i(t); a neuron outside K_t fires on no point and does not
move, so it fires on none at t+1 either: K_{t+1} ⊆ K_t (the active set only shrinks). The new fire
sets are therefore read off the leaves of K_t while they are being refreshed, in the same pass, and
the index is just K with, aligned with it, each neuron's points, leaves (LK), a_r/√m (aK) and row of
the implicit weights (rowK), so a step streams through them. There is no (m, n) leaf array: Init
computes the leaves block by block, and neurons that leave the set are kept as (ids, final leaves).
Exact, like the other indexes; it relies on every step being of the form W − Jᵀg (true for every
direction here).

With the d-free leaf update the whole step is one fused pass (`active_gram_step`): weights, leaves,
K_{t+1} compacted in place, and f_{t+1} with the fire counts, which the next query then just reads.
"""

import math

import numpy as np

from simulator.indexes import ops
from simulator.indexes.base import FireSets, Index
from simulator.kernels import active as _act
from simulator.kernels import jacobian as _jac


class ActiveSet(Index):
    name = "active"
    counters = ()

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        # K_0 with each neuron's points and leaves (≤ n each), its rows of C; Init works block by block
        k = m if k is None else k
        return 3 * n * k + 4 * k

    def build(self):
        # streamed: W0 and a are regenerated block by block (kernels/init_stream.py) and only K_0's rows kept;
        # a W0 the problem already holds is read instead (the same bits, no generation)
        p = self.problem
        self.K, self.kptr, self.kpts, self.LK, W0K, aK = p.init.active_init(p.X, p.b, W0=p.W0 if p.held else None)
        self.W.hold_rows(self.K, W0K)  # the only rows of W0 a step or a view will ask for (K_{t+1} ⊆ K_t)
        self.W.reserve(self.K.shape[0])  # every row of C it will need, at once (zeros: pages untouched until used)
        self.aK = aK / math.sqrt(p.m)
        self.rowK = np.full(self.K.shape[0], -1, dtype=np.int64)  # row of C, −1 until a neuron moves
        self._left = []  # (neurons, final leaves) of those that left K: they never change again
        self._next = None  # (f_t, fire counts) left by the previous step's fused pass
        self._fused = False  # whether the last query read them (operation counts)

    def query(self, point_major=False):
        p = self.problem
        self._fused = self._next is not None
        if self._next is not None:
            f, counts = self._next
            self._next = None
        else:
            f = _act.forward_active(self.kptr, self.kpts, self.aK, self.LK, p.b, p.n)
            counts = np.bincount(self.kpts, minlength=p.n)
        fs = FireSets(self.K, self.kptr, self.kpts, self.aK, f, counts)
        if point_major:  # the set is neuron-major already; the point-major view only feeds a sketch
            fs.indptr, fs.indices = _jac.point_major(self.K, self.kptr, self.kpts, p.n)
        return fs

    def apply_step(self, fs, g):
        p, W = self.problem, self.W
        before = W.moved  # no reserve: build() gave C a row for each of K_0, and K ⊆ K_0 moves at most once each
        if self.leaf_update != "gram":  # inner products: rows of C found through rowK, not an m-entry map
            dcv = _jac.step_coefficients(fs.kptr, fs.kpts, fs.aK, g)
            W.moved = int(_act.active_accumulate(self.K, self.rowK, W.ids, W.C, W.moved, fs.kptr, fs.kpts, dcv))
            W.rows_given(before)
            self._set_leaves(fs, W.rows(self.K, W.C[self.rowK]) @ p.X.T)
            return
        # the fast path: weights, leaves and the next fire sets in one streaming pass
        (self.K, self.kptr, self.kpts, self.aK, self.rowK, self.LK, W.moved, left, left_leaves, f_next,
         counts) = _act.active_gram_step(self.K, self.kptr, self.kpts, self.aK, self.rowK, self.LK, g, p.XXt,
                                         p.b, W.ids, W.C, W.moved)
        W.rows_given(before)
        self._next = (f_next, counts)
        if left.shape[0]:
            self._left.append((left, left_leaves))

    def query_ops(self, fs, work):
        """Nothing after a fused step (it left f and the counts); else f and the counts from the set; the
        point-major view when a sketch asked for it."""
        terms = {} if self._fused else {"forward": ops.forward(fs.nnz), "fire_counts": ops.fire_counts(fs.nnz)}
        if fs.indices is not None:
            terms["point_major"] = ops.point_major(fs.nnz, self.problem.n)
        return terms

    def update_ops(self, k, nnz, work):
        """Both paths compare the new leaves of K with b and write K_{t+1}'s CSR (nnz' entries); the fused
        pass also sums f_{t+1} and the fire counts of the next query."""
        n, nnz_next = self.problem.n, int(self.kpts.shape[0])
        terms = super().update_ops(k, nnz, work)
        terms.update(threshold=ops.threshold(k, n), csr=nnz_next)
        if self.leaf_update == "gram":
            terms.update(forward=ops.forward(nnz_next), fire_counts=ops.fire_counts(nnz_next))
        return terms

    def _set_leaves(self, fs, rows):
        K = self.K
        self.K, self.kptr, self.kpts, self.LK, keep, left = _act.active_update(K, rows, self.LK, self.problem.b)
        if left.shape[0]:
            self._left.append((K[left], rows[left]))
        self.aK = self.aK[keep]
        self.rowK = self.rowK[keep]

    # views
    def fire_sets(self):
        return _jac.point_major(self.K, self.kptr, self.kpts, self.problem.n)  # K ascending: ascending per point

    def predictions(self):
        p = self.problem
        return _act.forward_active(self.kptr, self.kpts, self.aK, self.LK, p.b, p.n)

    def neuron_major(self):
        return self.kptr, self.kpts

    def leaves(self):
        # neurons that never fired keep <w_r(0), x_i>; the others' leaves are stored
        p = self.problem
        U = p.w0_dense() @ p.X.T  # a view, O(mn): W0 regenerated unless held
        for r, L in self._left:
            U[r] = L
        U[self.K] = self.LK
        return np.ascontiguousarray(U.T)
