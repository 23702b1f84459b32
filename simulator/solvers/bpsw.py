"""Seed 003 (van den Brand, Peng, Song, Weinstein, ITCS 2021), as restated in seed 002 Lemmas A.6-A.7.

Gauss-Newton written as the regression min_g ‖J Jᵀ g − (f − y)‖: the dense
forward pass finds the fire sets (O(mnd)), a sketch of Jᵀ (CountSketch by
default, SRHT for small sizes) gives the QR preconditioner in time independent
of m, and preconditioned conjugate gradient solves to `cg_tol`, each G·v
applied through the dense J in O(mnd). O(mnd + n³) per iteration.
"""

import numpy as np

from simulator.solvers.base import check_gram
from simulator.solvers.dense import DenseSolver
from simulator.solvers.regression import pcg, preconditioner, sketch_jacobian, sketch_rows


class BPSW(DenseSolver):
    name = "bpsw"
    phases = ("sketch", "regression", "update")
    exact = True  # up to cg_tol

    def _init(self, record):
        super()._init(record)
        self.s, self.nnz = sketch_rows(self.options, self.problem.n)
        self.info.update(sketch_rows=self.s, sketch_nnz=self.nnz)

    def _step(self, record, phase):
        p = self.problem
        with phase("sketch"):
            counts = self.F.sum(axis=1)
            if np.any(counts == 0):
                check_gram(self._gram(), counts)  # raises, naming the point
            indptr, indices = self.fire_sets()
            B = sketch_jacobian(self.options["sketch"], indptr, indices, p, self.s, self.nnz,
                                p.sketch_seed + self.t)
            R = preconditioner(B)
            self.last_sketch = (B, (indptr, indices))  # for the measured distortion (metrics)
        with phase("regression"):
            g, iters, res = pcg(lambda v: self._j(self._jt(v)), R, self.f - p.y,
                                self.options["cg_tol"], self.options["cg_max_iter"])
        with phase("update"):
            step = self._jt(g)
            self.W -= step
            self._forward()
        record.counters.update(reg_iterations=iters, reg_residual=res, sketch_rows=self.s,
                               neurons_changed=int(np.count_nonzero(np.any(step != 0, axis=1))))
