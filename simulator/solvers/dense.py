"""Shared state of the dense baselines: explicit W, full leaf matrix, BLAS products.

Written the way a careful engineer would write them (no Python loops over
neurons): U = X Wᵀ is one GEMM, the Gram is (X Xᵀ) ∘ (F Fᵀ)/m with F the 0/1
fire incidence (SPEC §1 identity, an n×m by m×n GEMM), and Jᵀg is one GEMM.
"""

import math

import numpy as np

from simulator.model import predictions_dense
from simulator.solvers.base import Solver, csr_from_mask


class DenseSolver(Solver):
    def _init(self, record):
        p = self.problem
        self.W = p.W0.copy()
        self._scale = p.a / math.sqrt(p.m)  # a_r/√m, the Jacobian's per-neuron factor
        self._forward()

    def _forward(self):
        """U_t, the fire incidence F_t (float 0/1) and f_t from the current W: O(mnd)."""
        p = self.problem
        self.U = p.X @ self.W.T
        self.F = (self.U > p.b).astype(np.float64)
        self.f = predictions_dense(self.U, p.a, p.b)

    def _gram(self):
        return self.problem.XXt * (self.F @ self.F.T) / self.problem.m

    def _jt(self, g):
        """Jᵀ g as an (m, d) array: row r = (a_r/√m) Σ_i g_i F_ir x_i."""
        return ((self.F.T * g) @ self.problem.X) * self._scale[:, None]

    def _j(self, V):
        """J v for v given as an (m, d) array: (1/√m) Σ_r a_r F_ir <v_r, x_i>."""
        return ((self.problem.X @ V.T) * self.F) @ self._scale

    # views
    def predictions(self):
        return self.f.copy()

    def fire_sets(self):
        return csr_from_mask(self.F > 0)

    def leaves(self):
        return self.U.copy()

    def weights(self):
        return self.W.copy()

    def gram(self):
        return self._gram()
