"""Shared state of the dense baselines: explicit W, full leaf matrix, BLAS products.

Written the way a careful engineer would write them (no Python loops over
neurons, no per-step temporaries): U = X Wᵀ is one GEMM, the Gram is
(X Xᵀ) ∘ (F Fᵀ)/m with F the 0/1 fire incidence (docs/theory.md §1 identity, an n×m by
m×n GEMM), and W ← W + α Jᵀg is one GEMM that updates W in place.

J never exists as an (n, m·d) matrix: J[i, (r, ·)] = (a_r/√m) F_ir x_i, so every
product with J goes through Fs = F ∘ (a/√m) and X.

Layout. The (n, m) arrays U, F, Fs are stored transposed, neuron-major (m, n),
like W (m, d): with one row per neuron OpenBLAS runs these thin GEMMs 1.5-2.5×
faster than on (n, m) arrays (measured at m = 2^22, n = 16, d = 32, 1 thread:
X Wᵀ 0.14 s against 0.27-0.36 s, the in-place W update 0.14 s against 0.21 s).
They are allocated once, in init, and overwritten by every forward pass: at
m = 2^22, n = 16 each float64 one is 512 MiB, and allocating and first-touching
fresh ones every step cost more than the arithmetic done on them.

Operation counts. Every step records `phase_flops` (the operations of each phase, aligned with
`phases`), from n, m, d and what the step knows (indexes/ops.py, Table B: the forward pass
`dense_forward`, the in-place update `dense_add_jt`, the overlaps `dense_overlaps`, …): a
subclass gives `_record_ops` its terms by phase, {phase: {term: count}}, kept as `op_terms`.
"""

import math

import numpy as np
from scipy.linalg.blas import dgemm

from simulator.indexes import ops
from simulator.solvers.base import Solver, csr_from_mask

# F Fᵀ counts |S_i ∩ S_j| ≤ m. Summed in float32 these integers are exact while m ≤ 2^24, so the
# float32 GEMM (half the memory traffic of float64) gives bit-for-bit the float64 counts.
_FLOAT32_EXACT_COUNTS = 2**24


class DenseSolver(Solver):
    counters = ("neurons_changed", "phase_flops")

    @classmethod
    def memory_words(cls, n, d, m, options, k=None):
        return 2 * m * d + 4 * n * m  # W, its step, U, F and products

    def _init(self, record):
        p = self.problem
        self.W = p.W0.copy()  # (m, d), updated in place
        self.op_terms = {}  # {phase: {term: operations}} of the last step (indexes/ops.py)
        self._scale = p.a / math.sqrt(p.m)  # a_r/√m, the Jacobian's per-neuron factor
        # neuron-major buffers, row r = neuron r (see the module docstring)
        self.UT = np.empty((p.m, p.n))  # Uᵀ: UT[r, i] = <w_r, x_i>
        self._firesT = np.empty((p.m, p.n), dtype=bool)  # Fᵀ as bool, for the fire sets
        self.FT = np.empty((p.m, p.n), dtype=np.float32 if p.m <= _FLOAT32_EXACT_COUNTS else np.float64)
        self._FsT = np.empty((p.m, p.n))  # Fsᵀ = Fᵀ ∘ (a/√m); scratch for σ_b(Uᵀ) in _forward
        self._forward()

    def _forward(self):
        """U_t, the fire incidence F_t, Fs_t and f_t from the current W: O(mnd), into the buffers."""
        p = self.problem
        np.matmul(self.W, p.X.T, out=self.UT)
        np.greater(self.UT, p.b, out=self._firesT)
        np.copyto(self.FT, self._firesT)
        sigma = self._FsT  # borrowed as scratch until Fs is written below
        np.subtract(self.UT, p.b, out=sigma)
        np.maximum(sigma, 0.0, out=sigma)
        self.f = (sigma.T @ p.a) / math.sqrt(p.m)  # f_i = (1/√m) Σ_r a_r σ_b(u_ri)
        np.multiply(self._firesT, self._scale[:, None], out=self._FsT)

    def _overlaps(self):
        """C = F Fᵀ as float64, C_ij = |S_i ∩ S_j| exactly (diagonal: the fire-set sizes)."""
        return (self.FT.T @ self.FT).astype(np.float64)

    def _gram(self, C=None):
        """G = (X Xᵀ) ∘ (F Fᵀ) / m, from the overlaps C if already computed."""
        if C is None:
            C = self._overlaps()
        return self.problem.XXt * C / self.problem.m

    def _add_jt(self, alpha, g):
        """W ← W + α Jᵀg in place, one GEMM: w_r += α (a_r/√m) Σ_i F_ir g_i x_i, i.e. W += α Fsᵀ (g ∘ X)."""
        gX = g[:, None] * self.problem.X  # (n, d)
        # BLAS is column-major: it sees the C-ordered W (m, d) as Wᵀ (d × m), and FsT (m, n) as Fs
        # (n × m), so it can update W in place without copying anything: Wᵀ ← α (gX)ᵀ Fs + Wᵀ.
        out = dgemm(alpha, gX.T, self._FsT.T, beta=1.0, c=self.W.T, overwrite_c=1)
        assert out.ctypes.data == self.W.ctypes.data  # updated in place, not into a copy

    # operation counts (indexes/ops.py) -------------------------------------------------------------
    def _forward_ops(self):
        p = self.problem
        return ops.dense_forward(p.m, p.n, p.d)

    def _add_jt_ops(self):
        p = self.problem
        return ops.dense_add_jt(p.m, p.n, p.d)

    def _record_ops(self, record, terms):
        """`phase_flops` from {phase: {term: count}}, kept as `op_terms` (a view for tests)."""
        self.op_terms = terms
        record.counters["phase_flops"] = np.array([ops.total(terms[k]) for k in self.phases], dtype=np.float64)

    def _moved(self, g):
        """How many rows of Jᵀg are nonzero, without forming Jᵀg: the neurons firing on some point i
        with g_i ≠ 0 (the same unless Σ_i F_ir g_i x_i cancels exactly). Call it before _forward."""
        return int(np.count_nonzero(self.FT @ (g != 0).astype(self.FT.dtype)))

    # views
    def predictions(self):
        return self.f.copy()

    def fire_sets(self):
        return csr_from_mask(self._firesT.T)

    def leaves(self):
        return self.UT.T.copy()  # (n, m), C-ordered

    def weights(self):
        return self.W.copy()

    def gram(self, fire_sets=None):
        return self._gram()  # from its dense incidence, one GEMM
