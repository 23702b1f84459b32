"""Sketch-and-precondition regression shared by seed 003 (bpsw) and seed 002 (sublinear).

Both solve G g = y_reg with G = J Jᵀ (the Gauss-Newton system), preconditioned
by R = R_B⁻¹ from the QR of a sketch B = S Jᵀ: S Jᵀ R has orthonormal columns,
so Jᵀ R is nearly orthonormal and Rᵀ G R ≈ I (seed 002 Lemmas E.1-E.2, A.6-A.7).
`matvec(v)` applies G; the solvers give it through their own J.
"""

import math

import numpy as np

from simulator.kernels import sketch as _sk
from simulator.solvers.base import NumericalError


def sketch_rows(options, n):
    """The sketch size s: the option, or docs/theory.md §4's default from n and ε_sketch."""
    nnz = 1 if options["sketch"] == "countsketch" else options["sketch_nnz"]
    if options["sketch_rows"] != "auto":
        return int(options["sketch_rows"]), nnz
    return _sk.default_sketch_rows(n, eps=options["eps_sketch"], nnz=nnz), nnz


def sketch_words(options, n, d, m):
    """8-byte words a sketch of Jᵀ holds: B (s × n) and its QR; the dense references also S or Jᵀ."""
    s, _ = sketch_rows(options, n)
    words = 3 * s * n
    if options["sketch"] == "gaussian":
        words += s * m * d + m * d * n  # S (s × md) and the dense Jᵀ
    elif options["sketch"] == "srht":
        words += 2 * (1 << max(m * d - 1, 1).bit_length()) * n  # Jᵀ padded to a power of two, transformed
    return words


#: scatter-adds (Σ_i |S_i|·d·nnz) from which the OSNAP sketch shares the points among threads
PARALLEL_SKETCH = 1 << 21


def sketch_jacobian(kind, indptr, indices, problem, s, nnz, seed, a_pairs=None):
    """B = S·J_tᵀ (s × n). OSNAP/CountSketch never form S or J (O(nnz·d·s_nnz)), with a_r per fire pair from
    a_pairs when the caller has them in order (`sketch_jt`); Gaussian and SRHT are dense references for small
    sizes (O(md) memory)."""
    p = problem
    if kind in ("osnap", "countsketch"):
        # Threads only for a large sketch: at m = 4096 an OpenMP barrier cost more than the whole sketch
        # (20 ms vs 0.6 ms); at 2^22 (25M scatter-adds) two threads take it from 84-87 to 44-57 ms
        parallel = _sk.sketch_jt_work(indptr, p.d, nnz) >= PARALLEL_SKETCH
        return _sk.sketch_jt(indptr, indices, p.a, p.X, p.m, s, nnz, seed, parallel=parallel, a_pairs=a_pairs)
    A = _sk.dense_jt(indptr, indices, p.a, p.X, p.m)
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return _sk.gaussian_sketch(s, A.shape[0], rng) @ A
    if kind == "srht":
        return _sk.srht_apply(A, s, rng)
    raise ValueError(f"solver.sketch: unknown sketch {kind!r}")


def preconditioner(B):
    """R = R_B⁻¹ from the thin QR B = Q R_B (Alg. 5 line 26), so that B R = Q."""
    R_B = np.linalg.qr(B, mode="r")
    diag = np.abs(np.diag(R_B))
    if diag.size and not (diag.min() > 1e-12 * max(diag.max(), 1e-300)):
        raise NumericalError("the sketch S·J_tᵀ is rank-deficient: G_t is singular "
                             "(a point with an empty fire set?) or the sketch too small")
    # R_B is upper triangular with a nonzero diagonal, so LU's partial pivoting never swaps a row: this is back
    # substitution (and needs no scipy.linalg, whose import alone is ~0.3 s)
    return np.linalg.solve(R_B, np.eye(R_B.shape[0]))


def _converged(res, ynorm, tol):
    return res <= tol * ynorm


def paper_iteration(matvec, R, y, tol, max_iter):
    """Seed 002 Algorithm 5 lines 31-35: z ← z − (RᵀGR)ᵀ(RᵀGR z − Rᵀ y), g = R z.

    Stops when ‖G R z − y‖ ≤ tol·‖y‖ (docs/theory.md §4 Decision: relative). Each pass
    applies G twice. Returns (g, iterations, final relative residual).
    """
    ynorm = float(np.linalg.norm(y))
    z = np.zeros_like(y)
    if ynorm == 0.0:  # already at the labels: a normal state, nothing to do
        return z, 0, 0.0
    r = -y
    it = 0
    while True:
        res = float(np.linalg.norm(r))
        if not math.isfinite(res):
            raise NumericalError("the regression iteration produced non-finite values")
        if _converged(res, ynorm, tol) or it >= max_iter:
            break
        # (RᵀGR)ᵀ(RᵀGR z − Rᵀy) = Rᵀ G R (Rᵀ r) with r = G R z − y (RᵀGR is symmetric).
        z = z - R.T @ matvec(R @ (R.T @ r))
        r = matvec(R @ z) - y
        it += 1
    if res > ynorm:  # worse than g = 0: the iteration diverged (its contraction needs ε below 1 − 1/√2)
        raise NumericalError(f"the paper's regression iteration diverged (relative residual {res / ynorm:.3g}): the "
                             "sketch is too coarse; raise solver.sketch_rows, lower solver.eps_sketch or use "
                             "solver.regression = pcg")
    return R @ z, it, res / ynorm


def pcg(matvec, R, y, tol, max_iter):
    """Conjugate gradient on G g = y with preconditioner R Rᵀ ≈ G⁻¹ (seed 003's solver).

    One application of G per iteration. Returns (g, iterations, final relative residual).
    """
    ynorm = float(np.linalg.norm(y))
    g = np.zeros_like(y)
    if ynorm == 0.0:
        return g, 0, 0.0
    r = y.copy()
    zr = R @ (R.T @ r)
    p = zr.copy()
    rz = float(r @ zr)
    it = 0
    res = ynorm
    while not _converged(res, ynorm, tol) and it < max_iter:
        if rz == 0.0:  # the preconditioned residual underflowed: as converged as it can get
            break
        Gp = matvec(p)
        pGp = float(p @ Gp)
        if not (pGp > 0 and math.isfinite(pGp)):
            raise NumericalError(f"conjugate gradient broke down (pᵀGp = {pGp:.3e}): G_t is not positive definite")
        alpha = rz / pGp
        g += alpha * p
        r -= alpha * Gp
        zr = R @ (R.T @ r)
        rz_new = float(r @ zr)
        p = zr + (rz_new / rz) * p
        rz = rz_new
        res = float(np.linalg.norm(r))
        it += 1
    # The recurrence residual drifts from the true one; report the true one.
    res = float(np.linalg.norm(matvec(g) - y))
    return g, it, res / ynorm
