"""Seed 004 Algorithm 1: train the last hidden layer W_L of the multilayer network (docs/theory.md §9).

One iteration, from the state W_L(t) = W_L(0) + ΔW_L:
  sketch      J̃ = J_t Sᵀ (n × s) from u_i = D_{i,L} a and v_i = h_{i,L−1} alone: row i of J_t is
              u_i ⊗ v_i ∈ R^{m²}, never formed (TensorSketch / TensorSRHT; or a dense Gaussian on the
              explicit rows, the small-m reference)
  regression  g = (J̃ J̃ᵀ)⁻¹(f_t − y) (sketch-and-solve); or PCG on the exact G = (UᵀU) ∘ (VᵀV)
              preconditioned by the QR of J̃ᵀ (the paper's §4); or G solved directly (exact); or
              g = η(f_t − y) (gradient descent, the paper's remark)
  update      ΔW_L ← ΔW_L − Σ_i g_i u_i v_iᵀ, kept implicitly (`LowRankDelta`)
  fold        the factor list folded into the dense matrix when its rank reaches rank_max
  forward     h_{i,L} = φ((W_L(0) + ΔW_L) v_i) for the next iteration: W_L(0)·v_i through the sparse
              v_i (m·nnz(v_i) per point, Alg. 1 line 7) plus ΔW_L·v_i through the factors; or
              (`forward = cached`, beyond the paper, exact) W_L(0)·v_i cached at init, since v_i
              never changes, so only the factors' m·rank per point remains.
Every phase counts its floating-point operations (`phase_flops`), beside its seconds.
"""

import math

import numpy as np
from scipy.linalg.blas import dgemm

from simulator.kernels.multilayer import sparse_forward
from simulator.solvers import SOLVER_OPTIONS
from simulator.solvers.base import NumericalError, Solver, csr_from_mask, solve_spd
from simulator.solvers.regression import pcg, preconditioner

#: the largest s·m² the dense Gaussian reference sketch accepts (kernels.tensor_sketch.gaussian_kron)
GAUSSIAN_MAX = 2**28

#: α* ≥ 0.32, the dual exponent of matrix multiplication: the paper folds at rank ≈ m^{α*}
ALPHA_STAR = 0.32


def default_rank_max(m, n):
    return max(n, math.ceil(m ** ALPHA_STAR))


def add_outer(base_t, Bt, At):
    """base_t += Btᵀ At in place (one dgemm, no m × m temporary): with base_t = W_baseᵀ, Bt = Bᵀ, At = Aᵀ
    this is W_base ← W_base + A Bᵀ. BLAS sees the C-ordered arrays as their transposes."""
    out = dgemm(1.0, At.T, Bt, beta=1.0, c=base_t.T, overwrite_c=1)
    assert out.ctypes.data == base_t.ctypes.data  # updated in place, not into a copy


def check_layer_l(fire_counts, layers, t):
    """NumericalError naming the first point with no active neuron in layer L (u_i = 0: row i of J_t is
    zero, so G_t is singular and a Gauss-Newton step is undefined)."""
    if np.any(fire_counts == 0):
        i = int(np.flatnonzero(fire_counts == 0)[0])
        raise NumericalError(f"point {i} has no active neuron in layer L = {layers} at t = {t} (u_{i} = 0), so row "
                             f"{i} of J_t is zero and G_t is singular; lower network.alpha, widen, or change the seed")


class LowRankDelta:
    """W_L(t) = W_base + A Bᵀ, with W_base dense (W_L(0) until the first fold) and A, B ∈ R^{m×r}.

    form "factors" (the paper's): each step appends its factors (A_step = −U diag(g), B_step = V), so
    the rank grows by n; at rank ≥ rank_max the factors are folded into W_base (2m²r flops) and reset.
    form "dense": fold at every step (ΔW_L an explicit m × m matrix).
    form "pv": v_i never changes, so every step's B is the same V: keep one A = P (m × n), ΔW_L = P Vᵀ,
    rank ≤ n forever, never folded.
    Arrays are held transposed (At = Aᵀ, Bt = Bᵀ, base_t = W_baseᵀ): row c of base_t is column c of W_base.
    """

    def __init__(self, problem, form, rank_max):
        self.p = problem
        self.form = form
        self.rank_max = rank_max
        m, n = problem.m, problem.n
        cap = n if form == "pv" else (n if form == "dense" else rank_max + n)
        self.At = np.zeros((cap, m))
        self.Bt = np.zeros((cap, m))
        self.r = 0
        self.base_t = problem.WLt  # shared with the problem until the first fold writes to it
        self.folded = False
        self.Zbase = problem.Z0.copy()  # W_base · v_i (n, m), kept for the cached forward
        self.VB = np.zeros((n, cap))  # Vᵀ-side product V B (n × r), kept for both forwards
        if form == "pv":
            self.Bt[:n] = problem.V
            self.r = n
            self.VB[:, :n] = problem.C

    def append(self, A_step_t):
        """Add the step −Σ_i g_i u_i v_iᵀ given as A_stepᵀ = −diag(g) U (n × m). Returns flops."""
        n, m = self.p.n, self.p.m
        if self.form == "pv":
            self.At[:n] += A_step_t
            return n * m
        r = self.r
        self.At[r:r + n] = A_step_t
        self.Bt[r:r + n] = self.p.V
        self.VB[:, r:r + n] = self.p.C
        self.r = r + n
        return n * m

    def needs_fold(self):
        return self.form == "dense" or (self.form == "factors" and self.r >= self.rank_max)

    def fold(self, cached):
        """W_base ← W_base + A Bᵀ and reset the factors. Returns flops."""
        r, m, n = self.r, self.p.m, self.p.n
        if not self.folded:
            self.base_t = self.p.WLt.copy()
            self.folded = True
        add_outer(self.base_t, self.Bt[:r], self.At[:r])
        flops = 2 * m * m * r
        if cached:  # keep W_base · v_i current: += (V B) Aᵀ
            self.Zbase += self.VB[:, :r] @ self.At[:r]
            flops += 2 * n * r * m
        self.At[:r] = 0.0
        self.r = 0
        return flops

    def forward(self, cached):
        """Z[i] = W_L(t) v_i for every point. Returns (Z, flops)."""
        p, r = self.p, self.r
        n, m = p.n, p.m
        if cached:
            Z, flops = self.Zbase.copy(), 0
        else:
            Z = sparse_forward(self.base_t, p.V_sparse, n)
            flops = 2 * m * p.V_sparse[2].shape[0]
        if r:
            Z += self.VB[:, :r] @ self.At[:r]  # (V B) Aᵀ: Bᵀv_i is kept, since v_i never changes
            flops += 2 * n * r * m
        return Z, flops

    def dense(self):
        """W_L(t) explicit (m × m): for tests and the final state of small runs."""
        W_t = self.base_t.copy()
        if self.r:
            add_outer(W_t, self.Bt[:self.r], self.At[:self.r])
        return W_t.T

    def row_drift(self):
        """‖row r of W_L(t) − W_L(0)‖ for every r (the incoming weights of neuron r of layer L)."""
        r, m = self.r, self.p.m
        At, Bt = self.At[:r], self.Bt[:r]
        if not self.folded:  # ΔW = A Bᵀ: ‖A[k] Bᵀ‖² = A[k] (BᵀB) A[k]ᵀ
            M = Bt @ Bt.T
            return np.sqrt(np.maximum(np.einsum("ik,ij,jk->k", At, M, At), 0.0))
        out = np.zeros(m)
        for lo in range(0, m, 2048):  # ΔWᵀ in row blocks: (base_t − W_L(0)ᵀ)[c] + (B Aᵀ)[c]
            T = self.base_t[lo:lo + 2048] - self.p.WLt[lo:lo + 2048]
            if r:
                T += Bt[:, lo:lo + 2048].T @ At
            out += np.einsum("ij,ij->j", T, T)
        return np.sqrt(out)


class LayerLSolver(Solver):
    """What the two multilayer solvers share: layer L's state from its pre-activations Z (n, m) — the mask
    D_{i,L}, u_i = D_{i,L} a, f_i = aᵀ h_{i,L} — the start of a run, and the views the engine reads."""

    def _start(self, Z):
        """State 0 from Z_0; refuse a silent point; the step size of a gradient run."""
        dead = self.problem.dead_point()
        if dead:
            raise NumericalError(dead)
        self._set_state(Z)
        if self.direction != "gradient":
            self._check_active()
            return
        lr = self.options["learning_rate"]
        # η = 1/λ_max(G_0) by default, as the two-layer gd
        self.eta = 1.0 / float(np.linalg.eigvalsh(self.gram())[-1]) if lr == "auto" else float(lr)
        self.info["learning_rate"] = self.eta

    def _check_active(self):
        check_layer_l(self.fire_counts, self.problem.layers, self.t)

    def _set_state(self, Z):
        p = self.problem
        self.Z = Z
        self.mask = Z > p.b  # D_{i,L}
        self.fire_counts = np.count_nonzero(self.mask, axis=1)
        self.U = np.where(self.mask, p.a, 0.0)  # rows u_i = D_{i,L} a
        self.f = np.where(self.mask, Z - p.b, 0.0) @ p.a  # f_i = aᵀ h_{i,L}

    def _gram_from(self, U):
        G = (U @ U.T) * self.problem.C  # (UᵀU) ∘ (VᵀV) in the paper's column convention
        return 0.5 * (G + G.T)

    def _step_rank(self, A_step_t):
        """rank(A Vᵀ) = rank(R_A R_Vᵀ) from the thin QRs of the two m × n factors (O(m n²))."""
        Ra = np.linalg.qr(A_step_t.T, mode="r")
        Rv = np.linalg.qr(self.problem.V.T, mode="r")
        return int(np.linalg.matrix_rank(Ra @ Rv.T))

    # -- views --------------------------------------------------------------------------------
    def predictions(self):
        return self.f.copy()

    def fire_sets(self):
        """Layer L's active neurons per point (supp u_i) as CSR."""
        return csr_from_mask(self.mask)

    def gram(self, fire_sets=None):
        return self._gram_from(self.U)  # from u_i and v_i; the fire sets add nothing


class Multilayer(LayerLSolver):
    name = "multilayer"
    counters = ("reg_iterations", "reg_residual", "sketch_rows", "phase_flops", "step_rank", "delta_rank",
                "folds", "step_fro_sq", "gGg")

    def __init__(self, problem, options=None, lam=None):
        super().__init__(problem, options, lam)
        o = self.options
        if o["step"] == "gd":
            self.direction, middle = "gradient", ("gradient",)
        elif o["regression"] == "exact":
            self.direction, middle = "exact", ("regression",)
        else:
            self.direction, middle = "sketched", ("sketch", "regression")
        self.phases = (*middle, "update", "fold", "forward")
        n, m = problem.n, problem.m
        self.s = (64 * n if o["sketch_rows"] == "auto" else int(o["sketch_rows"])) if self.direction == "sketched" else 0
        self.rank_max = default_rank_max(m, n) if o["rank_max"] == "auto" else int(o["rank_max"])
        self.cached = o["forward"] == "cached"
        self._last = None

    @classmethod
    def check_options(cls, n, d, m, options):
        o = {key: f.default for key, f in SOLVER_OPTIONS[cls.name].items()} | dict(options or {})
        if o["step"] == "gd" or o["regression"] == "exact":
            return
        s = 64 * n if o["sketch_rows"] == "auto" else int(o["sketch_rows"])
        if s < n:
            raise ValueError(f"solver.sketch_rows: s = {s} rows cannot sketch n = {n} Jacobian rows (the sketched "
                             f"Gram would be singular); give at least n, typically 64·n = {64 * n}")
        if o["sketch"] == "gaussian" and s * m * m > GAUSSIAN_MAX:
            raise ValueError(f"solver.sketch: gaussian is the dense reference on the explicit m²-long rows, for "
                             f"small m: s·m² = {s}·{m}² exceeds {GAUSSIAN_MAX}; use tensorsketch or tensor-srht")

    @classmethod
    def memory_words(cls, n, d, m, options, k=None):
        o = options or {}
        words = 12 * n * m  # Z, its mask, U, h_L, Zbase, the step's factor, sketch inputs
        if o.get("delta_form", "factors") != "pv":
            words += m * m  # W_base once folded
            rmax = o.get("rank_max", "auto")
            words += 2 * m * (n + (default_rank_max(m, n) if rmax == "auto" else int(rmax)))
        s = 64 * n if o.get("sketch_rows", "auto") == "auto" else int(o["sketch_rows"])
        words += 4 * n * s
        if o.get("sketch") == "gaussian":
            words += 2 * n * m * 4096  # a block of S's columns and of the explicit rows
        return words

    def _init(self, record):
        p, o = self.problem, self.options
        self.delta = LowRankDelta(p, o["delta_form"], self.rank_max)
        self._start(p.Z0.copy())
        self.info.update(sketch=o["sketch"] if self.direction == "sketched" else "none", sketch_rows=self.s,
                         rank_max=self.rank_max, eps_sketch=o["eps_sketch"])

    # -- one iteration ----------------------------------------------------------------------
    def _step(self, record, phase):
        p, o = self.problem, self.options
        n, m = p.n, p.m
        flops = dict.fromkeys(self.phases, 0)
        if self.direction != "gradient":
            self._check_active()
        r = self.f - p.y
        nnz_u = int(self.fire_counts.sum())
        if self.direction == "gradient":
            with phase("gradient"):
                g = self.eta * r
            flops["gradient"] = n
        elif self.direction == "exact":
            with phase("regression"):
                G = self._gram_from(self.U)
                g = solve_spd(G, r)
            flops["regression"] = 2 * n * n * m + n ** 3 // 3
            record.counters.update(reg_iterations=0, reg_residual=0.0)
        else:
            seed = int(np.random.SeedSequence([p.sketch_seed, self.t]).generate_state(1, np.uint64)[0] >> 1)
            with phase("sketch"):
                Jt = self._sketch(seed)  # (n, s): rows S(u_i ⊗ v_i)
            flops["sketch"] = self._sketch_flops(nnz_u)
            with phase("regression"):
                if o["regression"] == "sketch-and-solve":
                    try:
                        g = solve_spd(Jt @ Jt.T, r)
                    except NumericalError as exc:
                        raise NumericalError(f"the sketched Gram J̃J̃ᵀ (s = {self.s} rows) is singular: {exc}; "
                                             "raise solver.sketch_rows") from None
                    iters, res = 0, None
                    flops["regression"] = 2 * n * n * self.s + n ** 3 // 3
                else:
                    R = preconditioner(Jt.T)
                    G = self._gram_from(self.U)
                    g, iters, res = pcg(lambda v: G @ v, R, r, o["cg_tol"], o["cg_max_iter"])
                    flops["regression"] = 2 * self.s * n * n + 2 * n * n * m + (iters + 1) * 6 * n * n
            self._last = (Jt.T, self.U)
            if res is None:  # how far sketch-and-solve's g is from solving the exact system (untimed)
                res = float(np.linalg.norm(self._gram_from(self.U) @ g - r) / max(np.linalg.norm(r), 1e-300))
            record.counters.update(reg_iterations=iters, reg_residual=res, sketch_rows=self.s)
        if not np.isfinite(g).all():
            raise NumericalError("the step g has non-finite entries")
        U_step = self.U
        with phase("update"):
            A_step_t = -(g[:, None] * U_step)  # (−U diag g)ᵀ: row i = −g_i u_i
            flops["update"] = self.delta.append(A_step_t)
        folds = 0
        if self.delta.needs_fold():
            with phase("fold"):
                flops["fold"] = self.delta.fold(self.cached)
            folds = 1
        with phase("forward"):
            Z, flops["forward"] = self.delta.forward(self.cached)
            self._set_state(Z)
            flops["forward"] += 3 * n * m
        # counters (untimed): the step's rank, its size measured from the stored change, gᵀ G g
        K = A_step_t @ A_step_t.T  # AᵀA of the step's A (n × n)
        record.counters.update(
            phase_flops=np.array([flops[k] for k in self.phases], dtype=np.float64),
            step_rank=self._step_rank(A_step_t), delta_rank=int(self.delta.r), folds=folds,
            step_fro_sq=float(np.sum(K * p.C)),  # ‖A Vᵀ‖_F² = tr((AᵀA)(VᵀV)) of the stored factors
            gGg=float(g @ self._gram_from(U_step) @ g))

    def _sketch(self, seed):
        from simulator.kernels import tensor_sketch as ts

        kind = self.options["sketch"]
        fn = {"tensorsketch": ts.tensorsketch, "tensor-srht": ts.tensor_srht, "gaussian": ts.gaussian_kron}[kind]
        try:
            if kind == "gaussian":
                return fn(self.U, self.problem.V, self.s, seed, max_entries=GAUSSIAN_MAX)
            return fn(self.U, self.problem.V, self.s, seed)
        except ValueError as exc:  # the Gaussian reference refuses large m
            raise NumericalError(f"solver.sketch = {kind}: {exc}") from None

    def _sketch_flops(self, nnz_u):
        p, s, n, m = self.problem, self.s, self.problem.n, self.problem.m
        nnz_v = int(p.V_sparse[2].shape[0])
        kind = self.options["sketch"]
        if kind == "tensorsketch":  # two CountSketches, three real FFTs of length s and a product per point
            return 2 * (nnz_u + nnz_v) + n * (3 * 2.5 * s * math.log2(max(s, 2)) + 6 * s)
        if kind == "tensor-srht":  # two Walsh-Hadamard transforms of length M per point, s products
            M = 1 << max(m - 1, 1).bit_length()
            return n * (2 * M * math.log2(M) + 2 * s)
        return 2 * n * s * m * m  # dense Gaussian on the explicit rows

    # -- views ------------------------------------------------------------------------------
    def weights(self):
        return self.delta.dense()

    def drift(self):
        return self.delta.row_drift()

    def last_sketch(self):
        if self._last is None:
            return None
        B, U = self._last
        return B, self._gram_from(U)

    def final_state(self, store_weights):
        out = {"f": self.predictions(), "drift": self.drift()}
        if store_weights:
            out["W"] = self.weights()
        return out
