"""Dense full-batch gradient descent (the DZPS19 regime; seed 001 Lemma 5.2).

W ← W − η ∇L, ∇L = J_tᵀ (f_t − y): O(mnd) per step, one GEMM that forms the
gradient and subtracts it from W in place (phase "gradient"), then the forward
pass at the new W (phase "update").
η = "auto" takes 1/λ_max(G_0): the largest step that is stable for every
direction up to a factor 2. docs/theory.md §5's η = O(λ/n²) is the proof's worst case
(its constant unstated) and at runnable widths barely moves the loss; set
`solver.learning_rate` to use it.
"""

import numpy as np

from simulator.solvers.base import NumericalError
from simulator.solvers.dense import DenseSolver


class GradientDescent(DenseSolver):
    name = "gd"
    phases = ("gradient", "update")
    counters = ("neurons_changed", "move_max", "phase_flops")
    direction = "gradient"

    def _init(self, record):
        super()._init(record)
        eta = self.options["learning_rate"]
        if eta == "auto":
            lam_max = float(np.linalg.eigvalsh(self._gram())[-1])
            if not lam_max > 0:
                raise NumericalError("G_0 is zero: no neuron fires on any point, gradient descent cannot move")
            eta = 1.0 / lam_max
        self.eta = float(eta)
        self.info["learning_rate"] = self.eta

    def _move_max(self, residual, block=4096):
        """max_r ‖Δw_r‖ = η‖Σ_i Fs_ir r_i x_i‖ through X Xᵀ: O(mn²) in blocks of neurons, so no (m, n)
        or (m, d) temporary is allocated."""
        best = 0.0
        for lo in range(0, self.problem.m, block):
            V = self._FsT[lo:lo + block] * residual
            best = max(best, float(np.einsum("ri,ri->r", V @ self.problem.XXt, V).max()))
        return self.eta * float(np.sqrt(best))

    def _step(self, record, phase):
        with phase("gradient"):
            residual = self.f - self.problem.y
            self._add_jt(-self.eta, residual)  # W ← W − η Jᵀ(f − y)
        moved = self._moved(residual)  # needs F_t, which the update overwrites; untimed, like every counter
        record.counters["move_max"] = self._move_max(residual)  # untimed, like every counter
        with phase("update"):
            self._forward()
        if not np.isfinite(self.f).all():
            raise NumericalError(f"predictions became non-finite (learning rate {self.eta:g} too large?)")
        record.counters["neurons_changed"] = moved
        self._record_ops(record, {"gradient": {"residual": self.problem.n, "dense_add_jt": self._add_jt_ops()},
                                  "update": {"dense_forward": self._forward_ops()}})
