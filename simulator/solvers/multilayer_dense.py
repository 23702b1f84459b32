"""The reference for seed 004: Gauss-Newton (or gradient descent) on W_L with everything dense.

W_L(t) is an explicit m × m matrix (held transposed, as the problem holds W_L(0)); each iteration
computes every pre-activation by one GEMM, Z = V W_Lᵀ (2·n·m² flops, no use of the sparsity of
v_i), forms G — from the explicit Jacobian J (n × m², rows u_i ⊗ v_i) while n·m² ≤ 2^24, else by the
identity G = (UᵀU) ∘ (VᵀV) — solves G g = f − y by Cholesky, and updates W_L ← W_L − Jᵀg as one
in-place rank-n GEMM (2·n·m² flops). O(n·m²) per iteration: the cost seed 004 sets out to beat.
"""

import numpy as np

from simulator.solvers.base import NumericalError, solve_spd
from simulator.solvers.multilayer import LayerLSolver, add_outer

#: largest explicit Jacobian (entries n·m²) under jacobian = auto
EXPLICIT_MAX = 2**24


class MultilayerDense(LayerLSolver):
    name = "multilayer-dense"
    counters = ("phase_flops", "step_rank", "step_fro_sq", "gGg")

    def __init__(self, problem, options=None, lam=None):
        super().__init__(problem, options, lam)
        o = self.options
        self.direction = "gradient" if o["step"] == "gd" else "exact"
        self.phases = ("gradient" if self.direction == "gradient" else "regression", "update", "forward")
        n, m = problem.n, problem.m
        self.explicit = o["jacobian"] == "explicit" or (o["jacobian"] == "auto" and n * m * m <= EXPLICIT_MAX)

    @classmethod
    def memory_words(cls, n, d, m, options, k=None):
        o = options or {}
        words = m * m + 8 * n * m
        if o.get("jacobian", "auto") == "explicit" or (o.get("jacobian", "auto") == "auto" and n * m * m <= EXPLICIT_MAX):
            words += 2 * n * m * m
        return words

    def _init(self, record):
        self.WT = self.problem.WLt.copy()  # W_L(t)ᵀ
        self._start(self._forward())
        self.info.update(jacobian="explicit" if self.explicit else "gram")

    def _forward(self):
        return self.problem.V @ self.WT  # Z[i, r] = Σ_c W_L[r, c] v_i[c]

    def jacobian(self):
        """J_t explicit (n × m²): row i = u_i ⊗ v_i, the derivative of f_i by W_L in row-major order."""
        U, V = self.U, self.problem.V
        return (U[:, :, None] * V[:, None, :]).reshape(U.shape[0], -1)

    def _step(self, record, phase):
        p = self.problem
        n, m = p.n, p.m
        flops = {}
        r = self.f - p.y
        J = None
        if self.direction == "gradient":
            with phase("gradient"):
                g = self.eta * r
            flops["gradient"] = n
        else:
            self._check_active()
            with phase("regression"):
                if self.explicit:
                    J = self.jacobian()
                    G = J @ J.T
                    flops["regression"] = 2 * n * n * m * m + n ** 3 // 3
                else:
                    G = (self.U @ self.U.T) * p.C
                    flops["regression"] = 2 * n * n * m + n ** 3 // 3
                g = solve_spd(0.5 * (G + G.T), r)
        if not np.isfinite(g).all():
            raise NumericalError("the step g has non-finite entries")
        U_step = self.U
        old = self.WT.copy() if m * m <= EXPLICIT_MAX else None  # to measure the step from the state (untimed)
        with phase("update"):
            if J is not None:  # W_L ← W_L − reshape(Jᵀg): the textbook step through the explicit Jacobian
                self.WT -= (J.T @ g).reshape(m, m).T
                flops["update"] = 2 * n * m * m + m * m
            else:  # W_Lᵀ ← W_Lᵀ + V ᵀ(−diag(g) U), one in-place GEMM
                add_outer(self.WT, p.V, -(g[:, None] * U_step))
                flops["update"] = 2 * n * m * m
        with phase("forward"):
            self._set_state(self._forward())
        flops["forward"] = 2 * n * m * m + 3 * n * m
        if old is not None:
            step_fro_sq = float(np.sum((self.WT - old) ** 2))
        else:  # ‖A Vᵀ‖_F² = tr((AᵀA)(VᵀV)) of the step's factors
            K = (g[:, None] * U_step) @ (g[:, None] * U_step).T
            step_fro_sq = float(np.sum(K * p.C))
        record.counters.update(
            phase_flops=np.array([flops[k] for k in self.phases], dtype=np.float64),
            step_rank=self._step_rank(-(g[:, None] * U_step)), step_fro_sq=step_fro_sq,
            gGg=float(g @ self._gram_from(U_step) @ g))

    # -- views ------------------------------------------------------------------------------
    def weights(self):
        return self.WT.T.copy()

    def drift(self):
        out = np.zeros(self.problem.m)
        for lo in range(0, out.shape[0], 2048):  # row norms of W_L − W_L(0) = column norms of the transposes
            T = self.WT[lo:lo + 2048] - self.problem.WLt[lo:lo + 2048]
            out += np.einsum("ij,ij->j", T, T)
        return np.sqrt(out)
