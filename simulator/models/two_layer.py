"""The two-layer model of docs/theory.md §1 (seed 002 §2.3): the problem every solver starts from.

f(W, x) = (1/√m) Σ_r a_r σ_b(<w_r, x>),  σ_b(z) = max(z − b, 0),  a_r ∈ {±1} fixed,
w_r(0) ~ N(0, I_d), inputs unit-norm, loss L = ½‖f − y‖².

As a model (`network.kind = "two-layer"`, see models/__init__.py) this module gives the engine
what it needs without the engine knowing the network: `build` (the Problem from a scenario and its
data), `theory_constants` (b, λ, δ, R0, … from its paper's theory module, seed 002), `trace_data`
(the arrays a trace stores to say what ran), `initial_scales` (Lemma 4.2's quantities at W0) and
`memory_words` (what the problem itself holds, for the memory guard).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.kernels import jacobian as _jac
from simulator.kernels.fireset import gram_from_csr
from simulator.streams import STREAMS, streams  # noqa: F401  (re-export)

KIND = "two-layer"
PAPER = "seed002"  # the theory module whose checks apply (simulator/theory)


def sigma_b(z, b):
    """Shifted ReLU σ_b(z) = max(z − b, 0) (docs/theory.md §1 Decision)."""
    return np.maximum(np.asarray(z) - b, 0.0)


@dataclass
class Problem:
    """Data, fixed output layer, initial weights and shift: everything a solver starts from."""

    X: np.ndarray  # (n, d), unit rows
    y: np.ndarray  # (n,)
    a: np.ndarray  # (m,), ±1
    W0: np.ndarray  # (m, d)
    b: float
    sketch_seed: int = 0  # root of the per-iteration sketch hashes
    XXt: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.X = np.ascontiguousarray(self.X, dtype=np.float64)
        self.y = np.ascontiguousarray(self.y, dtype=np.float64)
        self.a = np.ascontiguousarray(self.a, dtype=np.float64)
        self.W0 = np.ascontiguousarray(self.W0, dtype=np.float64)
        self.b = float(self.b)
        XXt = self.X @ self.X.T
        self.XXt = 0.5 * (XXt + XXt.T)  # exactly symmetric, so every Gram built from it is too

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.X.shape[1]

    @property
    def m(self):
        return self.W0.shape[0]

    @property
    def weight_entries(self):
        """Entries of the trained weights (W: m·d), for the trace's store-or-omit rule."""
        return self.m * self.d

    def gram(self, indptr, indices):
        """G_t = J_t J_tᵀ from the fire sets (CSR), exact: (X Xᵀ) ∘ (B Bᵀ)/m (docs/theory.md §1 identity)."""
        return gram_from_csr(indptr, indices, self.XXt, self.m)


def make_problem(X, y, m, b, rngs):
    """W0 and a from the `init` stream, the sketch root seed from the `sketch` stream."""
    init = rngs["init"]
    d = X.shape[1]
    W0 = init.standard_normal((m, d))
    a = init.choice(np.array([-1.0, 1.0]), size=m)
    sketch_seed = int(rngs["sketch"].integers(0, 2**62))
    return Problem(X=X, y=y, a=a, W0=W0, b=b, sketch_seed=sketch_seed)


class ImplicitWeights:
    """w_r(t) = w_r(0) + Σ_j c_{r,j} x_j, with c stored only for neurons that moved (docs/theory.md §6).

    Every Gauss-Newton or gradient step moves w_r inside span{x_j}, so the
    coefficients c_r ∈ R^n describe the weights exactly without storing W.
    Drift ‖w_r(t) − w_r(0)‖² = c_rᵀ (X Xᵀ) c_r.
    """

    def __init__(self, W0, X, XXt):
        self.W0 = W0
        self.X = X
        self.XXt = XXt  # X Xᵀ, the problem's
        self.row = np.full(W0.shape[0], -1, dtype=np.int64)  # neuron -> row of C, -1 if never moved
        self.C = np.zeros((max(1024, X.shape[0]), X.shape[0]))
        self.moved = 0  # number of rows of C in use

    def reserve(self, k):
        """Make room in C for k more moving neurons."""
        need = self.moved + k
        if need > self.C.shape[0]:
            grown = np.zeros((max(need, 2 * self.C.shape[0]), self.C.shape[1]))
            grown[:self.moved] = self.C[:self.moved]
            self.C = grown

    def add_step(self, K, kptr, kpts, dcv):
        """c_r += dcv over F_r for r ∈ K, sparse (kernels/jacobian.py layout): O(nnz)."""
        self.reserve(K.shape[0])
        self.moved = int(_jac.accumulate_coefficients(self.row, self.C, self.moved, K, kptr, kpts, dcv))

    def coefficients(self, neurons):
        rows = self.row[neurons]
        out = np.zeros((neurons.shape[0], self.X.shape[0]))
        has = rows >= 0
        out[has] = self.C[rows[has]]
        return out

    def rows(self, neurons):
        """Explicit w_r for the given neurons: O(|neurons|·n·d)."""
        return self.W0[neurons] + self.coefficients(neurons) @ self.X

    def dense(self):
        W = self.W0.copy()
        ids = np.flatnonzero(self.row >= 0)
        W[ids] += self.C[self.row[ids]] @ self.X
        return W

    def drift(self):
        """‖w_r(t) − w_r(0)‖ for every neuron (0 for those that never moved)."""
        out = np.zeros(self.W0.shape[0])
        ids = np.flatnonzero(self.row >= 0)
        C = self.C[self.row[ids]]
        out[ids] = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", C, self.XXt, C), 0.0))
        return out


# -- the model seam (what the engine calls) --------------------------------------------------
def build(scenario, X, y, rngs):
    """The Problem of a resolved scenario on data (X, y): width, shift b and the init stream."""
    from simulator.config import resolve_b

    return make_problem(X, y, scenario.network.m, resolve_b(scenario.network), rngs)


def theory_constants(problem, scenario):
    """The constants the checks need (b, λ of the exact NTK, δ, R0 = n/λ, ρ, ᾱ), from seed 002's theory."""
    from simulator.theory import seed002

    return seed002.constants(problem.X, problem.b, scenario.theory.rho, scenario.network.alpha_bar)


def trace_data(problem, scenario):
    """The arrays a trace stores under /data, and a note saying how to regenerate W0 when it is left out."""
    # the writer stores W0 while m·d <= output.store_W0_max, else records its shape and this note
    return {"X": problem.X, "y": problem.y, "a": problem.a, "W0": problem.W0,
            "note": f"W0 = standard normal (m, d) from the 'init' stream of seed {scenario.seed} "
                    "(simulator.streams.streams / simulator.models.two_layer.make_problem)"}


def initial_scales(problem, f0):
    """Lemma 4.2's quantities at W0 (checked by `validate`): ‖W0‖₂/√m and max_i |f0(x_i)|."""
    W0 = problem.W0
    if problem.d <= 2048:
        top = float(np.linalg.eigvalsh(W0.T @ W0)[-1])  # ‖W0‖₂² from the d×d Gram, O(md²)
    else:  # a d × d Gram would not fit (d = 10⁵ is 75 GiB): the top singular value by Lanczos, O(md) memory
        from scipy.sparse.linalg import svds

        top = float(svds(W0, k=1, return_singular_vectors=False, random_state=0)[0]) ** 2
    return {"W0_norm_over_sqrt_m": math.sqrt(max(top, 0.0) / problem.m),
            "f0_max_abs": float(np.max(np.abs(f0)))}


def memory_words(n, d, m):
    """8-byte words the problem and the engine hold at their peak, beside the solver's: W0 and a; the
    per-neuron metrics (drift, its sorted copy for the quantiles, marks); the n × n matrices (X Xᵀ, the
    data check, the exact NTK and its eigendecomposition); X."""
    return m * d + 5 * m + 8 * n * n + 2 * n * d


def expected_active(scenario):
    """The expected |K_0| = |∪_i S_i(0)|: each neuron fires on x_i with probability Q(b), so about
    m·(1 − (1 − Q(b))^n) neurons fire on some point (fewer when the points are correlated)."""
    from simulator.config import resolve_b

    n, m = scenario.data.n, scenario.network.m
    if n is None:
        return None
    q = 0.5 * math.erfc(resolve_b(scenario.network) / math.sqrt(2.0))
    return int(min(m, math.ceil(m * -math.expm1(n * math.log1p(-q)))))
