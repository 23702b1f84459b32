"""Step directions: given the fire sets of an iteration, the g of W_{t+1} = W_t − J_tᵀ g.

Every direction here moves the weights as W − Jᵀg, so any fire-set index (simulator/indexes) can
apply it; `solvers/sublinear.py` combines one index with one direction.

  ExactGram  Gauss-Newton, G_t from the fire-set incidence (docs/theory.md §1 identity, O(Σ_r |F_r|²)) and a
             direct n×n solve: g = G_t⁻¹(f_t − y). Exact.
  Sketched   Gauss-Newton by sketch and precondition (seed 002 Alg. 5 lines 10-35): B = S J_tᵀ from
             the fire sets, R = R_B⁻¹, then the paper's iteration or PCG on G g = f − y with G applied
             through the sparse J_tᵀ, to the relative tolerance ε_reg. Exact up to ε_reg.
  Gradient   gradient descent, g = η(f_t − y) (seed 001's and DZPS19's method): the step is η∇L.

A direction declares its `phases` (timed by the solver), its `kind` (recorded in the trace as
`solver_direction`, which decides which theory checks apply), whether it needs the point-major
fire sets (a sketch reads them), and the counters it reports. After `compute` its `op_terms` hold
the operations of each of its phases, {phase: {term: count}} (indexes/ops.py, Table B), computed
after the phases from the sizes of the step.
"""

import math

import numpy as np

from simulator.indexes import ops
from simulator.kernels import jacobian as _jac
from simulator.solvers.base import NumericalError, check_fire_counts, check_gram, solve_spd
from simulator.solvers.regression import paper_iteration, pcg, preconditioner, sketch_jacobian, sketch_rows


class Direction:
    kind = ""  # "exact" | "sketched" | "gradient"
    phases: tuple = ()
    counters: tuple = ()
    needs_point_major = False

    def __init__(self, problem, options, info):
        self.problem = problem
        self.options = options
        self.info = info  # the solver's record of what it decided (trace attrs solver_*)
        self.op_terms = {}  # {phase: {term: operations}} of the last compute

    def init(self, lam, gram0):
        """One-off set-up; lam = λ of the theory, gram0() gives G_0 when a direction needs it."""

    def compute(self, fs, t, phase, record):
        """g for the fire sets fs of iteration t, timed under `phase(name)`; counters into record."""
        raise NotImplementedError

    def last_sketch(self):
        """(B, G_t) of the last step's sketch, if the direction sketches (Solver.last_sketch)."""
        return None


class _GaussNewton(Direction):
    counters = ("reg_iterations", "reg_residual")

    def init(self, lam, gram0):
        if self.options["eps_reg"] == "auto":
            self.eps_reg = math.sqrt(max(lam, 0.0) / self.problem.n) / 6.0  # ε_reg = (1/6)√(λ/n), Alg. 5 line 30
        else:
            self.eps_reg = float(self.options["eps_reg"])
        self.info["eps_reg"] = self.eps_reg


class ExactGram(_GaussNewton):
    kind = "exact"
    phases = ("regression",)

    def compute(self, fs, t, phase, record):
        p = self.problem
        check_fire_counts(fs.counts)  # an empty S_i makes row i of J_t zero: G_t singular
        y_reg = fs.f - p.y
        with phase("regression"):
            G = p.XXt * _jac.gram_counts(fs.kptr, fs.kpts, p.n) / p.m  # docs/theory.md §1 identity
            check_gram(G)
            g = solve_spd(G, y_reg)
        res = float(np.linalg.norm(G @ g - y_reg) / max(np.linalg.norm(y_reg), 1e-300))
        record.counters.update(reg_iterations=1, reg_residual=res)
        sizes = np.diff(fs.kptr)
        self.op_terms = {"regression": {
            "gram_counts": ops.gram_counts(int(sizes @ sizes)), "gram_scale": ops.gram_scale(p.n),
            "check_gram": ops.check_gram(p.n), "solve_spd": ops.solve_spd(p.n)}}
        return g


class Sketched(_GaussNewton):
    kind = "sketched"
    phases = ("sketch", "regression")
    counters = ("reg_iterations", "reg_residual", "sketch_rows")
    needs_point_major = True

    def init(self, lam, gram0):
        o = self.options
        self.s, self.nnz = sketch_rows(o, self.problem.n)
        self.info.update(sketch=o["sketch"], sketch_rows=self.s, sketch_nnz=self.nnz)
        super().init(lam, gram0)
        self._solve = paper_iteration if o["regression"] == "paper" else pcg
        self._last = None

    def compute(self, fs, t, phase, record):
        p, o = self.problem, self.options
        check_fire_counts(fs.counts)
        y_reg = fs.f - p.y
        with phase("sketch"):
            B = sketch_jacobian(o["sketch"], fs.indptr, fs.indices, p, self.s, self.nnz, p.sketch_seed + t,
                                a_pairs=fs.a_pairs)
            R = preconditioner(B)
        self._last = (B, (fs.indptr, fs.indices))  # for the measured distortion (metrics)
        kptr, kpts, aK = fs.kptr, fs.kpts, fs.aK

        def matvec(v):  # G v through the sparse A = J_tᵀ, d-free: O(Σ_r |F_r|²)
            return _jac.gram_matvec(kptr, kpts, aK, p.XXt, v)

        with phase("regression"):
            g, iters, res = self._solve(matvec, R, y_reg, self.eps_reg, o["reg_max_iter"])
        record.counters.update(reg_iterations=iters, reg_residual=res, sketch_rows=self.s)
        sizes = np.diff(kptr)
        gv = ops.gv_sparse(int(sizes.shape[0]), fs.nnz, int(sizes @ sizes))
        self.op_terms = {"sketch": {**sketch_op_terms(o["sketch"], fs.nnz, p, self.s, self.nnz),
                                    "preconditioner": ops.preconditioner(self.s, p.n)},
                         "regression": {o["regression"]: regression_ops(o["regression"], iters, p.n, gv, y_reg)}}
        return g

    def last_sketch(self):
        if self._last is None:
            return None
        B, (indptr, indices) = self._last
        return B, self.problem.gram(indptr, indices)


class Gradient(Direction):
    """g = η(f_t − y): W ← W − η J_tᵀ(f_t − y) = W − η∇L. η = "auto" takes 1/λ_max(G_0), as `gd` does."""

    kind = "gradient"
    phases = ("gradient",)

    def init(self, lam, gram0):
        eta = self.options["learning_rate"]
        if eta == "auto":
            lam_max = float(np.linalg.eigvalsh(gram0())[-1])
            if not lam_max > 0:
                raise NumericalError("G_0 is zero: no neuron fires on any point, gradient descent cannot move")
            eta = 1.0 / lam_max
        self.eta = float(eta)
        self.info["learning_rate"] = self.eta

    def compute(self, fs, t, phase, record):
        with phase("gradient"):
            g = self.eta * (fs.f - self.problem.y)
        self.op_terms = {"gradient": {"step": 2 * self.problem.n}}
        return g


def sketch_op_terms(kind, nnz, problem, s, z):
    """Operations of B = S·Jᵀ from nnz fire pairs (indexes/ops.py): hashed adds and their scaling for OSNAP
    and CountSketch (z nonzeros per column), or a dense reference sketch."""
    p = problem
    if kind in ("osnap", "countsketch"):
        return {"sketch_hashed": ops.sketch_hashed(nnz, p.d, z), "sketch_scale": ops.sketch_scale(nnz, p.d)}
    if kind == "gaussian":
        return {"sketch_gaussian": ops.sketch_gaussian(s, p.m, p.d, p.n, nnz)}
    return {"sketch_srht": ops.sketch_srht(s, p.m, p.d, p.n, nnz)}


def regression_ops(method, iters, n, gv, rhs):
    """Operations of `regression.paper_iteration` (method "paper") or `pcg` after `iters` iterations, each
    G·v costing gv, on the right-hand side rhs."""
    zero = not np.any(rhs)
    if method == "paper":
        return ops.paper_iteration(iters, n, gv, zero_rhs=zero)
    return ops.pcg(iters, n, gv, zero_rhs=zero)


def make_direction(problem, options, info, step):
    """The direction for a step rule (`gauss-newton` | `gd`); for Gauss-Newton, options["regression"]."""
    if step == "gd":
        return Gradient(problem, options, info)
    cls = ExactGram if options["regression"] == "exact-gram" else Sketched
    return cls(problem, options, info)
