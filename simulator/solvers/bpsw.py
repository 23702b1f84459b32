"""Seed 003 (van den Brand, Peng, Song, Weinstein, ITCS 2021), as restated in seed 002 Lemmas A.6-A.7.

Gauss-Newton written as the regression min_g ‖J Jᵀ g − (f − y)‖: the dense
forward pass finds the fire sets (O(mnd)), a sketch of Jᵀ (CountSketch by
default, SRHT for small sizes) gives the QR preconditioner in time independent
of m, and preconditioned conjugate gradient solves to `cg_tol`, each G·v
applied through the dense J in O(mnd). O(mnd + n³) per iteration.
"""

import numpy as np

from simulator.indexes import ops
from simulator.solvers.base import check_fire_counts
from simulator.solvers.directions import regression_ops, sketch_op_terms
from simulator.solvers.dense import DenseSolver
from simulator.solvers.regression import pcg, preconditioner, sketch_jacobian, sketch_rows, sketch_words

# Neurons per block of the G·v product: a 4096×d block of Jᵀv (1 MiB at d = 32) stays in cache
# between the two GEMMs that write and read it. Building all of Jᵀv as one (m, d) array was ~30%
# slower at m = 2^22 (0.40 s against 0.31 s per product, 1 thread).
_BLOCK = 4096


class BPSW(DenseSolver):
    name = "bpsw"
    phases = ("sketch", "regression", "update")
    direction = "sketched"
    counters = ("neurons_changed", "reg_iterations", "reg_residual", "sketch_rows", "phase_flops")

    @classmethod
    def memory_words(cls, n, d, m, options, k=None):
        return super().memory_words(n, d, m, options) + sketch_words(options, n, d, m)

    def _init(self, record):
        super()._init(record)
        self.s, self.nnz = sketch_rows(self.options, self.problem.n)
        self.info.update(sketch_rows=self.s, sketch_nnz=self.nnz)
        self._last_sketch = None
        self._V = np.empty((min(_BLOCK, self.problem.m), self.problem.d))  # a block of Jᵀv, reused

    def _gv(self, v):
        """G v = J (Jᵀ v) through the dense J in O(mnd), one block of neurons at a time.

        Jᵀv has rows V_r = (a_r/√m) Σ_i F_ir v_i x_i, i.e. V = Fsᵀ (v ∘ X), and J V has entries
        (J V)_i = Σ_r (a_r/√m) F_ir <V_r, x_i> = <x_i, (Fs V)_i>: two GEMMs per block, summed over blocks.
        """
        X = self.problem.X
        vX = v[:, None] * X
        FsV = np.zeros_like(X)
        for lo in range(0, self.problem.m, _BLOCK):
            FsT = self._FsT[lo:lo + _BLOCK]  # rows = this block's neurons
            V = self._V[:FsT.shape[0]]
            np.matmul(FsT, vX, out=V)  # this block of Jᵀv
            FsV += FsT.T @ V
        return np.einsum("ij,ij->i", X, FsV)

    def last_sketch(self):
        if self._last_sketch is None:
            return None
        B, (indptr, indices) = self._last_sketch
        return B, self.problem.gram(indptr, indices)

    def _step(self, record, phase):
        p = self.problem
        with phase("sketch"):
            indptr, indices = self.fire_sets()
            check_fire_counts(np.diff(indptr))
            B = sketch_jacobian(self.options["sketch"], indptr, indices, p, self.s, self.nnz,
                                p.sketch_seed + self.t)
            R = preconditioner(B)
            self._last_sketch = (B, (indptr, indices))  # for the measured distortion (metrics)
        with phase("regression"):
            rhs = self.f - p.y
            g, iters, res = pcg(self._gv, R, rhs, self.options["cg_tol"], self.options["cg_max_iter"])
        moved = self._moved(g)  # needs F_t, which the update overwrites; untimed, like every counter
        with phase("update"):
            self._add_jt(-1.0, g)  # W ← W − Jᵀg
            self._forward()
        record.counters.update(reg_iterations=iters, reg_residual=res, sketch_rows=self.s, neurons_changed=moved)
        n, m, d, nnz = p.n, p.m, p.d, int(indptr[-1])
        self._record_ops(record, {
            "sketch": {"dense_csr": ops.dense_csr(m, n, nnz),
                       **sketch_op_terms(self.options["sketch"], nnz, p, self.s, self.nnz),
                       "preconditioner": ops.preconditioner(self.s, n)},
            "regression": {"residual": n, "pcg": regression_ops("pcg", iters, n, ops.dense_gv(m, n, d), rhs)},
            "update": {"dense_add_jt": self._add_jt_ops(), "dense_forward": self._forward_ops()}})
