"""An APPROXIMATE index (`index = "lsh"`): SimHash tables over the weights, SLIDE/MONGOOSE style.

Not exact, and labelled so everywhere: the fire sets a step uses are the candidates from the
hash buckets of x_i (L tables of k sign bits, kernels/lsh.py) that pass an exact test
<w_r, x_i> > b; a firing neuron outside every bucket of x_i is missed, so the step is not
gradient descent's. The tables are rebuilt from the current weights every `rehash_every` steps
(SLIDE's periodic rehash); in between, moved neurons keep their stale buckets.

Per step the index reports (untimed, `audit`): `missed`, the firing neurons it did not find
(against the exact fire sets from the current weights), and `false_reported`, the candidates it
examined that do not fire (work that changes nothing). The views metrics read — fire sets,
leaves, predictions — are the network's true ones at the current weights, so the trace's loss is
the true loss of the run; the solver runs exact gradient descent beside it to record `loss_gap`.
"""

import numpy as np

from simulator.indexes import ops
from simulator.indexes.explicit import ExplicitWeightsIndex
from simulator.kernels import lsh as _lsh
from simulator.kernels import jacobian as _jac
from simulator.kernels.jacobian import forward_pairs

LSH_STREAM = 0x15A  # spawn key of the hyperplanes' generator under the problem's sketch seed


class LSHIndex(ExplicitWeightsIndex):
    name = "lsh"
    approximate = True
    counters = ("candidates", "rebuilds")
    audits = ("missed", "false_reported")

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        return m * d + 2 * 16 * m + n * m  # explicit W, per table the order and sorted codes (L ≤ 16 typical); audit

    def build(self):
        p, o = self.problem, self.options
        self.L, self.k = int(o["lsh_tables"]), int(o["lsh_bits"])
        self.every = int(o["rehash_every"])
        rng = np.random.default_rng(np.random.SeedSequence(p.sketch_seed, spawn_key=(LSH_STREAM,)))
        self.H = rng.standard_normal((self.L, self.k, p.d))
        self.Wx = p.W0.copy()
        self._xcodes = _lsh.simhash_codes(p.X, self.H)
        self._stamp = np.full(p.m, -1, dtype=np.int64)
        self._base = 0
        self.candidates = self.rebuilds = 0
        self._steps = 0
        self._rehash()
        self._after_build()

    def _rehash(self):
        self._order, self._codes = _lsh.build_tables(_lsh.simhash_codes(self.Wx, self.H))

    def query(self, point_major=False):
        p = self.problem
        indptr, indices, leaves, cand = _lsh.query_all(self._order, self._codes, self._xcodes, self.Wx, p.X, p.b,
                                                       self._stamp, self._base)
        self._base += p.n
        self.candidates += int(cand)
        self._last = (indptr, indices, int(cand))
        return self._fire_sets(indptr, indices, forward_pairs(indptr, indices, leaves, p.a, p.b))

    def audit(self, fs):
        """missed and false_reported of the fire sets just found, against the exact ones (O(mnd), untimed)."""
        indptr, indices, cand = self._last
        exact = int(np.count_nonzero(self.Wx @ self.problem.X.T > self.problem.b))
        found = int(indices.shape[0])
        return {"missed": exact - found, "false_reported": cand - found}

    def _move(self, fs, dcv):
        _jac.add_step_rows(self.Wx, fs.K, fs.kptr, fs.kpts, dcv, self.problem.X)
        self._steps += 1
        if self.every > 0 and self._steps % self.every == 0:
            self._rehash()
            self.rebuilds += 1

    # the views are exact (the network's true state), from the current weights
    def _csr(self, sort):
        fires = self.problem.X @ self.Wx.T > self.problem.b  # (n, m), brute force: a view, not the step
        rows, cols = np.nonzero(fires)
        indptr = np.zeros(fires.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=fires.shape[0]), out=indptr[1:])
        return indptr, cols.astype(np.int64)

    def work(self):
        return {"candidates": self.candidates, "rebuilds": self.rebuilds}

    def _structure_query_ops(self, fs, work):
        p = self.problem
        return {"lsh_query": ops.lsh_query(p.n, self.L, p.m, work["candidates"], p.d)}

    def _forward_ops(self, nnz):
        return ops.forward(nnz)  # forward_pairs: the tested leaves came with the fire pairs

    def update_ops(self, k, nnz, work):
        p = self.problem
        terms = super().update_ops(k, nnz, work)
        if work["rebuilds"]:
            terms["lsh_rehash"] = work["rebuilds"] * ops.lsh_rehash(p.m, self.L, self.k, p.d)
        return terms
